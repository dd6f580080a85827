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
import TidemarkSystem
import TidemarkRepository

/// Where every catalog entry goes on disk, checked before anything is written.
package final class RestorePlan: Sendable {
    package struct File: Sendable {
        package var path: String
        package var size: Int64
        package var sha256: String

        package init(path: String, size: Int64, sha256: String) {
            self.path = path
            self.size = size
            self.sha256 = sha256
        }
    }

    /// A run of bytes to copy from a pack's plaintext into a file.
    package struct Item: Sendable {
        package var packOffset: Int64
        package var length: Int64
        package var file: Int
        package var fileOffset: Int64
    }

    package let root: String
    /// Tablespace OID → where its files go.
    package let locations: [UInt32: String]
    package let files: [File]
    package let directories: [(path: String, mode: mode_t)]
    package let links: [(path: String, target: String)]
    package let items: [Int: [Item]]

    /// Each target (data directory first, then tablespaces by OID), canonical.
    package let targets: [RestoreTargets.Target]
    /// Tablespace OID → the top-level names this backup writes into its location.
    package let tablespaceWrites: [UInt32: Set<String>]
    /// The top-level names this backup writes into the data directory (and the files the
    /// restore adds: manifest, recovery configuration).
    package let rootWrites: Set<String>

    package init(catalog: BackupCatalog, options: RestoreOptions) throws {
        guard options.directory.hasPrefix("/") else {
            throw TidemarkError(.invalidInput, "restore target '\(options.directory)' must be an absolute path")
        }
        root = RestoreTargets.normalize(canonicalPath(options.directory))
        var locations: [UInt32: String] = [:]
        var targets = [RestoreTargets.Target(path: root, kind: .dataDirectory)]
        var unusedMappings = Set(options.tablespaceMap.keys)
        for t in catalog.tablespaces.sorted(by: { $0.oid < $1.oid }) {
            let mapped = options.tablespaceMap[t.location] ?? options.tablespaceMap[String(t.oid)]
            unusedMappings.remove(t.location)
            unusedMappings.remove(String(t.oid))
            let location = mapped ?? t.location
            guard location.hasPrefix("/") else {
                throw TidemarkError(.invalidInput, "tablespace \(t.oid) location '\(location)' must be an absolute path",
                                    hints: ["give an absolute path: --tablespace-map \(t.location)=/NEW/PATH"])
            }
            let canonical = RestoreTargets.normalize(canonicalPath(location))
            locations[t.oid] = canonical
            targets.append(RestoreTargets.Target(path: canonical, kind: .tablespace(oid: t.oid, original: t.location, mapped: mapped != nil)))
        }
        if let stray = unusedMappings.first {
            throw TidemarkError(.invalidInput, "--tablespace-map names '\(stray)', which is not a tablespace of backup \(catalog.id)",
                                hints: ["tablespaces: " + catalog.tablespaces.map { "\($0.oid)=\($0.location)" }.joined(separator: ", ")])
        }
        let protected = options.protectedPaths.map { RestoreTargets.Protected(path: RestoreTargets.normalize(canonicalPath($0.path)), what: $0.what) }
        if let refusal = RestoreTargets.check(targets, protected: protected) {
            throw TidemarkError(.invalidInput, refusal.message, hints: refusal.hints)
        }
        self.targets = targets
        var tablespaceWrites: [UInt32: Set<String>] = [:]
        var rootWrites: Set<String> = ["backup_manifest", "recovery.signal", "postgresql.auto.conf", "recovery.conf",
                                       RestoredServerConfiguration.fileName, RestoredServerConfiguration.fileName + ".tmp"]
        for entry in catalog.entries {
            guard let first = entry.path.split(separator: "/").first.map(String.init) else { continue }
            if let oid = entry.tablespace { tablespaceWrites[oid, default: []].insert(first) } else { rootWrites.insert(first) }
        }
        self.tablespaceWrites = tablespaceWrites
        self.rootWrites = rootWrites
        self.locations = locations

        var files: [File] = []
        var dirs: [(String, mode_t)] = []
        var links: [(String, String)] = []
        var items: [Int: [Item]] = [:]
        let bs = Int64(catalog.blockSize)
        for entry in catalog.entries {
            guard CatalogPath.isSafe(entry.path) else {
                throw TidemarkError(.corrupt, "backup \(catalog.id) names the path '\(entry.path)', which would leave the restore target; refusing to restore it")
            }
            let base: String
            if let oid = entry.tablespace {
                guard let location = locations[oid] else {
                    throw TidemarkError(.corrupt, "backup \(catalog.id) has files for tablespace \(oid), which its catalog does not list")
                }
                base = location
            } else {
                base = root
            }
            let path = base + "/" + entry.path
            switch entry.kind {
            case .directory:
                dirs.append((path, entry.mode & 0o750 == 0o750 ? 0o750 : 0o700))
            case .symlink:
                // PostgreSQL sends symlinks only for pg_tblspc/<oid>; nothing else may be linked.
                let parts = entry.path.split(separator: "/")
                guard entry.tablespace == nil, parts.count == 2, parts[0] == "pg_tblspc", let oid = UInt32(parts[1]),
                      let location = locations[oid] else {
                    throw TidemarkError(.corrupt, "backup \(catalog.id) holds a symlink '\(entry.path)' that is not a tablespace link; refusing to restore it")
                }
                links.append((path, location))
            case .file:
                let index = files.count
                files.append(File(path: path, size: entry.size, sha256: entry.sha256 ?? ""))
                for x in entry.extents ?? [] where x.pack != Extent.zeroPack {
                    guard x.pack >= 0, x.pack < catalog.packs.count, x.count > 0, x.firstBlock >= 0 else {
                        throw TidemarkError(.corrupt, "backup \(catalog.id): '\(entry.path)' refers to pack \(x.pack), which the catalog lacks")
                    }
                    let fileOffset = x.firstBlock * bs
                    let length = min(x.count * bs, entry.size - fileOffset)
                    guard length > 0 else { throw TidemarkError(.corrupt, "backup \(catalog.id): '\(entry.path)' has an extent past its end") }
                    items[x.pack, default: []].append(Item(packOffset: x.offset, length: length, file: index, fileOffset: fileOffset))
                }
            }
        }
        self.files = files
        self.directories = dirs
        self.links = links
        self.items = items.mapValues { $0.sorted { $0.packOffset < $1.packOffset } }
    }

    package func workByPack() -> [(Int, [Item])] { items.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }

    /// What preparing the targets would delete: with `force`, everything in the data
    /// directory, and in a tablespace location mapped explicitly only the PostgreSQL version
    /// directory this backup restores (`RestoreTargets.tablespaceDeletions`). Throws for a
    /// target that is not a directory, and for a non-empty one that may not be emptied.
    package func deletions(force: Bool) throws -> [String] {
        var doomed: [String] = []
        for target in targets {
            let dir = target.path
            var st = stat()
            guard lstat(dir, &st) == 0 else { continue }
            guard st.st_mode & S_IFMT == S_IFDIR else {
                throw TidemarkError(.invalidInput, "\(target.description) exists and is not a directory",
                                    hints: [RestoreTargets.mapHint(target)])
            }
            let entries = try storageCall { try FileIO.listDirectory(dir).map(\.name) }
            if entries.isEmpty { continue }
            switch target.kind {
            case .dataDirectory:
                guard force else {
                    throw TidemarkError(.invalidInput, "restore target '\(dir)' is not empty (\(entries.count) entries)",
                                        hints: ["restore into an empty directory, or pass --force to delete what is there first"])
                }
                doomed += entries.sorted().map { dir + "/" + $0 }
            case let .tablespace(oid, _, _):
                switch RestoreTargets.tablespaceDeletions(target, entries: entries, writes: tablespaceWrites[oid] ?? [], force: force) {
                case .success(let paths): doomed += paths
                case .failure(let refusal): throw TidemarkError(.invalidInput, refusal.message, hints: refusal.hints)
                }
            }
        }
        return doomed
    }

    /// Deletes `doomed` (from `deletions(force:)`), then creates each missing target (0700).
    package func prepareDirectories(deleting doomed: [String]) throws {
        for path in doomed { try storageCall { try FileIO.removeTree(path) } }
        for target in targets {
            var st = stat()
            if lstat(target.path, &st) == 0 {
                if target.kind == .dataDirectory { chmod(target.path, 0o700) }
            } else {
                try storageCall { try FileIO.createDirectoryPath(target.path) }
            }
        }
    }

    /// Removes what this restore wrote (the targets were empty, or emptied, when it began):
    /// the data directory's and each tablespace's top-level entries that come from the backup.
    /// Used when a restore fails part-way, so the targets are left as they were found.
    package func removeWritten() {
        for name in rootWrites.sorted() { try? FileIO.removeTree(root + "/" + name) }
        for (oid, names) in tablespaceWrites {
            guard let location = locations[oid] else { continue }
            for name in names.sorted() { try? FileIO.removeTree(location + "/" + name) }
        }
    }

    package func createEntries() throws {
        for (path, mode) in directories where path != root {
            if mkdir(path, mode) != 0 && errno != EEXIST {
                throw TidemarkError(.io, "unable to create directory '\(path)': \(String(cString: strerror(errno)))")
            }
        }
        for (path, target) in links {
            if symlink(target, path) != 0 {
                throw TidemarkError(.io, "unable to link '\(path)' to '\(target)': \(String(cString: strerror(errno)))")
            }
        }
        for file in files {
            let fd = open(file.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw TidemarkError(.io, "unable to create '\(file.path)': \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            if ftruncate(fd, off_t(file.size)) != 0 {
                throw TidemarkError(.io, "unable to size '\(file.path)': \(String(cString: strerror(errno)))")
            }
        }
    }

    package func writeFile(_ relative: String, _ bytes: [UInt8]) throws {
        let path = root + "/" + relative
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw TidemarkError(.io, "unable to create '\(path)': \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TidemarkError(.io, "unable to write '\(path)': \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    /// `recovery.signal` plus the settings appended to `postgresql.auto.conf` (PostgreSQL 12+),
    /// or `recovery.conf` for 11 and older.
    package func writeRecoveryConfiguration(catalog: BackupCatalog, options: RestoreOptions) throws {
        let major = catalog.postgresVersion >= 10000 ? catalog.postgresVersion / 10000 : catalog.postgresVersion
        let files = RecoverySettings.files(forMajorVersion: major)
        var lines = ["", "# Added by tidemark restore of backup \(catalog.id)"]
        if let comment = options.recoveryComment { lines.append("# " + comment.replacing("\n", with: " ")) }
        // Without a plan's settings (a direct BackupStore.restore): replay the whole archive.
        let settings = options.recoverySettings.isEmpty
            ? ["restore_command = " + RecoverySettings.quote(options.restoreCommand), "recovery_target_timeline = 'latest'"]
            : options.recoverySettings
        lines += settings
        // postgresql.auto.conf holds server settings on every version (9.4+).
        let archiveLines = options.archiveMode == .off
            ? ["", "# tidemark restore --archive-mode off (the default): this copy does not archive into the stanza it came from.",
               "# If it becomes the new primary, delete this line (or ALTER SYSTEM SET archive_mode = on) and restart.",
               "archive_mode = 'off'"]
            : []
        func appendToAutoConf(_ added: [String]) throws {
            var existing = (try? Array(Data(contentsOf: URL(fileURLWithPath: root + "/postgresql.auto.conf")))) ?? []
            if !existing.isEmpty && existing.last != 10 { existing.append(10) }
            try writeFile("postgresql.auto.conf", existing + Array((added.joined(separator: "\n") + "\n").utf8))
        }
        if let signal = files.signal {
            try writeFile(signal, [])
            try appendToAutoConf(lines + archiveLines)
        } else {
            lines.append("standby_mode = 'off'")
            try writeFile(files.settings, Array((lines.joined(separator: "\n") + "\n").utf8))
            if !archiveLines.isEmpty { try appendToAutoConf(archiveLines) }
        }
        if let server = options.restoredServer { try server.write() }
    }

    /// File-system helpers throw `StorageError`; a restore reports them as its own errors.
    package func storageCall<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as StorageError {
            throw TidemarkError(error.code == .permissionDenied ? .invalidInput : .io, error.message)
        }
    }
}
