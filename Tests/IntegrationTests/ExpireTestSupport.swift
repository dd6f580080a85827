import Foundation
import Testing
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

/// `tidemark expire --json`, decoded independently of the engine's types (the shape of
/// docs/expire-json.md).
struct ExpireJSONView: Decodable {
    struct Backup: Decodable {
        var id: String
        var type: String
        var endTime: String
        var keep: Bool
        var reasons: [String]
        var storedBytes: Int64
    }
    struct WALRange: Decodable {
        var timeline: UInt32
        var from: String
        var to: String
        var segments: Int
        var bytes: Int64
    }
    struct Repository: Decodable {
        var repository: String
        var hold: String?
        var backups: [Backup]
        var walDeleted: [WALRange]
        var walKept: [WALRange]
        var resumed: [String]
        var backupsDeleted: Int
        var segmentsDeleted: Int
        var objectsDeleted: Int
        var bytesFreed: Int64
        var planHash: String
        var error: String?

        func backup(_ id: String) -> Backup? { backups.first { $0.id == id } }
    }
    var dryRun: Bool
    var planHash: String
    var repositories: [Repository]
}

/// `tidemark delete --json`, decoded independently of the engine's types.
struct DeleteJSONView: Decodable {
    struct Repository: Decodable {
        var repository: String
        var deleted: [String]
        var objectsDeleted: Int
        var bytesFreed: Int64
    }
    var backup: String
    var dryRun: Bool
    var repositories: [Repository]
}

/// One entry of a repository directory: kind, mode and bytes (files) or target (links).
struct RepositoryEntry: Equatable, CustomStringConvertible {
    var kind: String
    var mode: UInt32
    var size: Int64
    var bytes: Data

    var description: String { "\(kind) \(String(mode, radix: 8)) \(size) bytes" }
}

/// Every path under a directory (not following symlinks), by path relative to it.
struct RepositorySnapshot: Equatable {
    var entries: [String: RepositoryEntry]

    init(of root: String) throws {
        var entries: [String: RepositoryEntry] = [:]
        func visit(_ relative: String) throws {
            // The audit log grows with every command, dry runs included (docs/audit.md): what
            // these snapshots compare is the repository's data, so it is left out.
            let parts = relative.split(separator: "/")
            if parts.count >= 2 && parts[1] == "audit" { return }
            let path = relative.isEmpty ? root : root + "/" + relative
            var st = stat()
            guard lstat(path, &st) == 0 else { throw TestingError(.fileSystem, "lstat '\(path)' failed: errno \(errno)") }
            let mode = UInt32(st.st_mode & 0o7777)
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                entries[relative] = RepositoryEntry(kind: "dir", mode: mode, size: 0, bytes: Data())
                for name in try FileManager.default.contentsOfDirectory(atPath: path).sorted() {
                    try visit(relative.isEmpty ? name : relative + "/" + name)
                }
            case S_IFREG:
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                entries[relative] = RepositoryEntry(kind: "file", mode: mode, size: Int64(st.st_size), bytes: data)
            case S_IFLNK:
                entries[relative] = RepositoryEntry(kind: "link", mode: mode, size: 0, bytes: Data((symlinkTarget(path) ?? "").utf8))
            default:
                entries[relative] = RepositoryEntry(kind: "other", mode: mode, size: Int64(st.st_size), bytes: Data())
            }
        }
        try visit("")
        self.entries = entries
    }

    /// Total bytes of regular files whose path passes `include`.
    func fileBytes(where include: (String) -> Bool = { _ in true }) -> Int64 {
        entries.filter { $0.value.kind == "file" && include($0.key) }.reduce(0) { $0 + $1.value.size }
    }

    /// Paths of regular files.
    var files: Set<String> { Set(entries.filter { $0.value.kind == "file" }.keys) }

    /// Human-readable differences (at most `limit`).
    func differences(to other: RepositorySnapshot, limit: Int = 20) -> [String] {
        var out: [String] = []
        for key in Set(entries.keys).union(other.entries.keys).sorted() where entries[key] != other.entries[key] {
            out.append("\(key): \(entries[key]?.description ?? "absent") -> \(other.entries[key]?.description ?? "absent")")
            if out.count >= limit { break }
        }
        return out
    }
}

/// Small retention tiers that work within one day of real time: the newest backup of today,
/// the newest full chain, and (PITR 0 days) the newest backup before the newest commit with
/// all WAL after it.
let smallRetention: [String: String] = [
    "BACKUP_RETENTION_DAILY": "1", "BACKUP_RETENTION_WEEKLY": "0", "BACKUP_RETENTION_MONTHLY": "0",
    "BACKUP_RETENTION_YEARLY": "0", "BACKUP_RETENTION_PITR_DAYS": "0", "BACKUP_RETENTION_MIN_FULL_CHAINS": "1",
    "BACKUP_RETENTION_TIME_ZONE": "UTC",
]

extension BackupTestCluster {
    /// `tidemark` with the small retention policy.
    var expiring: TidemarkRunner { tidemark.with(environment: smallRetention) }

    /// `tidemark expire <flags> --json` with the small policy: exit code, decoded report, result.
    func expire(_ flags: [String] = [], runner: TidemarkRunner? = nil) async throws -> (Int32, ExpireJSONView?, ProcessResult) {
        let result = try await ChildProcess.run((runner ?? expiring).command(["expire"] + flags + ["--json"]))
        let view = try? JSONDecoder().decode(ExpireJSONView.self, from: result.stdout)
        return (result.exitCode, view, result)
    }

    /// The ids in `pitr`, as a restore of backup `id` to its consistency point shows them.
    func restoredRows(of id: String, name: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [Int] {
        let (ids, restored) = try await restoreAndRead(["--backup", id, "--target-immediate"], name: name, sourceLocation: sourceLocation)
        restored.stop()
        // The restore recorded itself (docs/locking.md): expire keeps its backup for 24 hours.
        // Its recovery is over, so the record is ended here, as its 24 hours would.
        let readers = repository.directory + "/main/readers"
        var found = false
        for name in (try? FileManager.default.contentsOfDirectory(atPath: readers)) ?? [] {
            let path = readers + "/" + name
            guard let data = FileManager.default.contents(atPath: path),
                  let record = try? JSONSerialization.jsonObject(with: data) as? [String: Any], record["backup"] as? String == id else { continue }
            found = true
            try FileManager.default.removeItem(atPath: path)
        }
        #expect(found, "restore of \(id) left no reader record in \(readers)", sourceLocation: sourceLocation)
        return ids
    }

    /// The ids in `pitr` on the running server.
    func currentRows() async throws -> [Int] {
        let text = try await server.psql("select coalesce(string_agg(id::text, ',' order by id), '') from pitr")
        return text.split(separator: ",").compactMap { Int($0) }
    }

    /// Switches WAL and waits until the switched segment is archived.
    func archiveEverything() async throws {
        let last = try await server.switchWAL()
        _ = try await server.waitUntilArchived(last, timeout: .seconds(120))
    }

    /// Archived WAL segment files (24-hex-digit names) under `<repository>/main/wal/`, by name.
    func archivedSegments() -> Set<String> {
        let root = repository.directory + "/main/wal"
        var out = Set<String>()
        for dir in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: root + "/" + dir)) ?? [] {
                let base = String(name.prefix(24))
                if base.count == 24, base.allSatisfy(\.isHexDigit) { out.insert(base) }
            }
        }
        return out
    }

    /// Replaces the repository directory by a copy (`cp -a`), keeping its path.
    func replaceRepository(with copy: String) throws {
        try FileManager.default.removeItem(atPath: repository.directory)
        let cp = try ChildProcess.runBlocking(Command("/bin/cp", ["-a", copy, repository.directory], timeout: .seconds(120)))
        try #require(cp.succeeded, "cp -a \(copy) \(repository.directory): \(cp)")
    }
}

/// The segments of `names` inside `range` (same timeline, names between `from` and `to`: segment
/// names of one timeline sort in WAL order).
func segments(_ names: Set<String>, in range: ExpireJSONView.WALRange) -> Set<String> {
    let tli = String(format: "%08X", range.timeline)
    return names.filter { $0.hasPrefix(tli) && $0 >= range.from && $0 <= range.to }
}
