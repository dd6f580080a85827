#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore
import TidemarkSystem

/// `files`: the file storage backed up beside the database (docs/files.md), as written. Every
/// field is optional; `FilesSettings` is the resolved form.
public struct FilesSection: Codable, Sendable, Hashable {
    /// Absolute directories to back up: `["/srv/app/public/uploads"]`.
    public var paths: [String]?
    /// Patterns left out (fnmatch): `"*.tmp"` (a name at any depth), `"cache/"` (a directory
    /// and what it holds), `"/tmp"` or `"a/*/tmp"` (a path below the backed-up path) — docs/files.md.
    public var exclude: [String]?
    /// Stay on the file system of each path (default true): a mount below it is not walked.
    public var oneFileSystem: Bool?
    /// A file that cannot be read fails the backup (default false: it is reported and counted).
    public var failOnUnreadable: Bool?

    package enum CodingKeys: String, CodingKey, CaseIterable { case paths, exclude, oneFileSystem, failOnUnreadable }

    public init(paths: [String]? = nil, exclude: [String]? = nil, oneFileSystem: Bool? = nil, failOnUnreadable: Bool? = nil) {
        self.paths = paths
        self.exclude = exclude
        self.oneFileSystem = oneFileSystem
        self.failOnUnreadable = failOnUnreadable
    }
}

/// The `files` section and `FILE_BACKUP_DIR`, resolved: what file backups read and where they
/// write (docs/files.md).
public struct FilesSettings: Sendable, Hashable {
    /// Where file backups go.
    public enum Destination: Sendable, Hashable {
        /// Every configured repository, as the database (3-2-1 holds for files too):
        /// FILE_BACKUP_DIR is unset or names a configured repository's directory.
        case configuredRepositories
        /// A local posix repository of their own (FILE_BACKUP_DIR differs from every
        /// configured directory). `tidemark init` initializes it with the configured key.
        case separate(RepositorySpec)
    }

    /// The name of the FILE_BACKUP_DIR repository (`tidemark init --repo files`).
    public static let separateRepositoryName = "files"

    /// Absolute, normalized (no `.`, `..`, `//` or trailing `/`), none inside another.
    public var paths: [String] = []
    /// The patterns as written (checked: non-empty, one line each).
    public var excludes: [String] = []
    public var oneFileSystem = true
    public var failOnUnreadable = false
    public var destination: Destination = .configuredRepositories

    public init(paths: [String] = [], excludes: [String] = [], oneFileSystem: Bool = true, failOnUnreadable: Bool = false,
                destination: Destination = .configuredRepositories) {
        self.paths = paths
        self.excludes = excludes
        self.oneFileSystem = oneFileSystem
        self.failOnUnreadable = failOnUnreadable
        self.destination = destination
    }

    /// Whether there is anything to back up (`files.paths` or TIDEMARK_FILES_PATHS).
    public var isConfigured: Bool { !paths.isEmpty }

    /// The FILE_BACKUP_DIR repository, when file backups have one of their own.
    public var separateRepository: RepositorySpec? {
        if case .separate(let spec) = destination { return spec }
        return nil
    }

    /// The repositories file backups write to and restores read from, in order.
    public func repositories(of configuration: Configuration) -> [RepositorySpec] {
        separateRepository.map { [$0] } ?? configuration.repositories
    }

    /// Checks each path before `files backup` writes anything (docs/files.md): a path that does
    /// not exist (a mount not up, a typo), is a file or a symlink fails the backup with a
    /// configuration error naming it and the fix — a snapshot silently without it would be picked
    /// by restores as if it were complete. A path that exists but cannot be read by this user is
    /// one warning each (returned); the backup records it as unreadable and goes on (or fails,
    /// with `failOnUnreadable`).
    public func checkPaths() throws -> [String] {
        var out: [String] = []
        let source = "files.paths (or TIDEMARK_FILES_PATHS)"
        for path in paths {
            var st = stat()
            if lstat(path, &st) != 0 {
                let code = errno
                guard code == ENOENT || code == ENOTDIR else {
                    out.append("files.paths '\(path)' cannot be examined (\(String(cString: strerror(code)))): nothing is backed up from it")
                    continue
                }
                throw TidemarkError(.configuration, "unable to back up files.paths '\(path)': it does not exist; nothing was backed up",
                                    hints: ["mount or create it (a file system not mounted yet?), or remove it from \(source)"])
            }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                if access(path, R_OK | X_OK) != 0 {
                    out.append("files.paths '\(path)' is not readable by this user: nothing is backed up from it")
                }
            case S_IFLNK:
                var buffer = [CChar](repeating: 0, count: 4096)
                let n = readlink(path, &buffer, buffer.count - 1)
                let target = n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
                throw TidemarkError(.configuration, "unable to back up files.paths '\(path)': it is a symlink (to '\(target)'), not a directory; nothing was backed up",
                                    hints: ["list the directory it points to in \(source) (file backups never follow symlinks)"])
            default:
                throw TidemarkError(.configuration, "unable to back up files.paths '\(path)': it is not a directory; nothing was backed up",
                                    hints: ["list the directory that holds it in \(source), and leave out what it should not back up with files.exclude"])
            }
        }
        return out
    }
}

extension ConfigurationLoader {
    /// `files` with TIDEMARK_FILES_PATHS (colon-separated, replaces `files.paths`) and
    /// FILE_BACKUP_DIR over it. `repositories` are the configured ones (BACKUP_DIR applied).
    package static func files(_ section: FilesSection?, repositories: [RepositorySpec],
                              environment env: [String: String]) throws -> FilesSettings {
        let section = section ?? FilesSection()
        var settings = FilesSettings()
        var rawPaths = section.paths ?? []
        var source = "files.paths"
        if let text = env["TIDEMARK_FILES_PATHS"], !text.isEmpty {
            rawPaths = text.split(separator: ":", omittingEmptySubsequences: true).map(String.init)
            source = "TIDEMARK_FILES_PATHS"
        }
        for raw in rawPaths {
            let path = try normalizedAbsolute(raw, what: "\(source) '\(raw)'",
                                              hint: "list the directories to back up by absolute path, e.g. /srv/app/public/uploads")
            if let other = settings.paths.first(where: { contains($0, path) || contains(path, $0) }) {
                throw TidemarkError(.configuration, "\(source) lists '\(path)' and '\(other)': one lies inside the other",
                                    hints: ["list only the outer directory; leave parts of it out with files.exclude"])
            }
            settings.paths.append(path)
        }
        for (i, pattern) in (section.exclude ?? []).enumerated() {
            guard !pattern.isEmpty, pattern != "/", !pattern.contains("\n"), !pattern.contains("\0"), pattern.utf8.count <= 4096 else {
                throw TidemarkError(.configuration, "files.exclude[\(i)] is not a pattern",
                                    hints: ["use a name pattern (\"*.tmp\"), a directory (\"cache/\") or a path below the backed-up path (\"/tmp\"); one line, not empty"])
            }
            settings.excludes.append(pattern)
        }
        settings.oneFileSystem = section.oneFileSystem ?? true
        settings.failOnUnreadable = section.failOnUnreadable ?? false
        settings.destination = try destination(env["FILE_BACKUP_DIR"], repositories: repositories)
        for path in settings.paths {
            for r in repositories + (settings.separateRepository.map { [$0] } ?? []) where r.type == .posix && contains(path, r.path) {
                throw TidemarkError(.configuration, "\(source) '\(path)' holds repository '\(r.name)' (\(r.path)): file backups would back up the repository into itself",
                                    hints: ["keep the repository outside the backed-up directories, or list the directories beside it instead of '\(path)'"])
            }
        }
        return settings
    }

    /// FILE_BACKUP_DIR: unset, or the directory of a configured posix repository, shares the
    /// configured repositories; any other directory is a repository of its own.
    static func destination(_ raw: String?, repositories: [RepositorySpec]) throws -> FilesSettings.Destination {
        guard let raw, !raw.isEmpty else { return .configuredRepositories }
        let dir = try normalizedAbsolute(absolute(raw), what: "FILE_BACKUP_DIR '\(raw)'", hint: "set it to a directory, e.g. /var/backups/tidemark-files")
        let posix = repositories.filter { $0.type == .posix }
        if posix.contains(where: { (try? normalizedAbsolute($0.path, what: "", hint: "")) == dir }) { return .configuredRepositories }
        for r in posix {
            let other = (try? normalizedAbsolute(r.path, what: "", hint: "")) ?? r.path
            if contains(other, dir) || contains(dir, other) {
                throw TidemarkError(.configuration, "FILE_BACKUP_DIR '\(dir)' and repository '\(r.name)' (\(r.path)) lie one inside the other",
                                    hints: ["give file backups a directory beside the repository (e.g. \(FileIO.parent(other))/files), or set FILE_BACKUP_DIR to BACKUP_DIR to share it"])
            }
        }
        let name = FilesSettings.separateRepositoryName
        if repositories.contains(where: { $0.name == name }) {
            throw TidemarkError(.configuration, "FILE_BACKUP_DIR needs the repository name '\(name)', which a configured repository already has",
                                hints: ["rename that repository in the config file, or unset FILE_BACKUP_DIR to back files up into it"])
        }
        return .separate(RepositorySpec(name: name, type: .posix, path: dir))
    }

    /// `path` with `.`, empty components and a trailing `/` removed; `..` and relative paths refused.
    static func normalizedAbsolute(_ path: String, what: String, hint: String) throws -> String {
        guard path.hasPrefix("/") else {
            throw TidemarkError(.configuration, "\(what) is not an absolute path", hints: [hint])
        }
        let parts = path.split(separator: "/").filter { $0 != "." }
        guard !parts.contains("..") else {
            throw TidemarkError(.configuration, "\(what) contains '..'", hints: ["write the path without '..': " + hint])
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Whether `inner` is `outer` or lies below it (both normalized).
    static func contains(_ outer: String, _ inner: String) -> Bool {
        outer == inner || outer == "/" || inner.hasPrefix(outer + "/")
    }
}
