#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkStorage

/// Entry points the CLI calls: one function per command, configuration in, result out.
public enum Engine {
    static func store(for spec: RepositorySpec, configuration: Configuration) -> any ObjectStore {
        switch spec.type {
        case .posix: return FileSystemStore(root: spec.path, timeout: configuration.ioTimeoutSeconds)
        }
    }

    /// `tidemark init`: creates every configured repository that does not exist yet.
    public static func initialize(_ configuration: Configuration, parameters: ScryptParameters? = nil) async throws -> [String] {
        let passphrase = try configuration.requireKey()
        var lines: [String] = []
        try checkOwnership(configuration, command: "init")
        for spec in configuration.repositories {
            try createRoot(spec.path)
            let store = store(for: spec, configuration: configuration)
            let repo = try await Repository.initialize(store: store, passphrase: passphrase, parameters: parameters)
            let p = repo.config.wrappedKey.scrypt
            lines.append("initialized repository '\(spec.name)' at \(spec.path) (key \(repo.key.idHex), scrypt N=2^\(p.logN) r=\(p.r) p=\(p.p))")
            if geteuid() == 0 {
                lines.append("WARNING: the repository is owned by root; archive_command runs as the PostgreSQL server user: chown -R postgres: '\(spec.path)'")
            }
        }
        return lines
    }

    /// Creates the repository directory (0700) if missing; parents get the usual 0755.
    static func createRoot(_ path: String) throws {
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                throw TidemarkError(.repository, "repository path '\(path)' exists and is not a directory")
            }
            if st.st_mode & 0o077 != 0 && st.st_uid == geteuid() { chmod(path, 0o700) }
            return
        }
        do {
            try FileIO.createDirectoryPath(path)
        } catch {
            throw TidemarkError(error.code == .permissionDenied ? .repository : .io, "unable to create repository directory: \(error.message)",
                                hints: error.code == .permissionDenied ? ["create it as root and chown it to the user that runs Tidemark (mode 0700)"] : [])
        }
    }

    /// Refuses to write into a repository owned by someone else while running as root: files
    /// root creates there (a stanza, a WAL directory) would later be unreadable for the
    /// PostgreSQL server user and break archiving.
    static func checkOwnership(_ configuration: Configuration, command: String) throws {
        guard geteuid() == 0 else { return }
        for spec in configuration.repositories where spec.type == .posix {
            var st = stat()
            guard stat(spec.path, &st) == 0, st.st_uid != 0 else { continue }
            let owner = getpwuid(st.st_uid).map { String(cString: $0.pointee.pw_name) } ?? "uid \(st.st_uid)"
            throw TidemarkError(.repository, "refusing to run \(command) as root in repository '\(spec.path)', which belongs to \(owner)",
                                hints: ["run it as that user: sudo -u \(owner) tidemark \(command) ...  (files root creates would break archiving)"])
        }
    }

    /// Opens every configured repository with the configured key.
    public static func openRepositories(_ configuration: Configuration) async throws -> [Repository] {
        let passphrase = try configuration.requireKey()
        var repos: [Repository] = []
        for spec in configuration.repositories {
            repos.append(try await Repository.open(store: store(for: spec, configuration: configuration), passphrase: passphrase))
        }
        return repos
    }

    static func archives(_ configuration: Configuration) async throws -> [WALArchive] {
        try await openRepositories(configuration).map {
            WALArchive(repository: $0, stanza: configuration.stanza, compression: configuration.compression,
                       compressionLevel: configuration.compressionLevel)
        }
    }

    /// `tidemark wal-push PATH`: succeeds only when every repository holds a durable copy.
    /// Returns notices for stderr (empty when all went as usual).
    public static func walPush(_ configuration: Configuration, path: String) async throws -> [String] {
        try checkOwnership(configuration, command: "wal-push")
        var notices: [String] = []
        for archive in try await archives(configuration) {
            switch try await archive.push(path: path) {
            case .stored, .alreadyArchived:
                break
            case .storedAlongside(let key):
                notices.append("NOTICE: a different '\(FileIO.basename(path))' was archived before in '\(archive.location)'; this one is kept beside it as '\(key)'")
            }
        }
        return notices
    }

    /// `tidemark wal-fetch NAME DEST`.
    public static func walFetch(_ configuration: Configuration, name: String, destination: String) async throws {
        try await WALArchive.fetch(name: name, to: destination, from: archives(configuration))
    }
}
