import Foundation
import Testing
@testable import Tidemark
import TidemarkCore
import TidemarkFiles
import TidemarkRetention
import TidemarkTesting

/// `expire` and file snapshots over a real file-system repository: the policy drops a snapshot,
/// the dry run changes nothing, the run deletes the snapshot, rewrites the pack its unique
/// chunk shared with a live one and deletes nothing a kept snapshot needs (each restores byte
/// for byte after it); a second run has nothing left to do.
@Suite("Expire: file snapshots")
struct ExpireFilesEngineTests {
    static let day: TimeInterval = 86_400
    /// 2026-11-02 00:00 UTC.
    static let t0 = Date(timeIntervalSince1970: 1_793_577_600)

    static func random(_ count: Int) -> Data {
        var g = SystemRandomNumberGenerator()
        return Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &g) })
    }

    static func contents(_ root: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        guard let walker = FileManager.default.enumerator(atPath: root) else { return out }
        for case let path as String in walker {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDir), !isDir.boolValue {
                out[path] = try Data(contentsOf: URL(fileURLWithPath: root + "/" + path))
            }
        }
        return out
    }

    @Test func expireDropsASnapshotAndPrunesOnlyItsChunks() async throws {
        let tree = try Scratch()
        let uploads = tree.path + "/uploads"
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        let repo = try await ExpireTestRepository(environment: [
            "TIDEMARK_FILES_PATHS": uploads, "BACKUP_RETENTION_DAILY": "1", "BACKUP_RETENTION_WEEKLY": "0",
            "BACKUP_RETENTION_MONTHLY": "0", "BACKUP_RETENTION_PITR_DAYS": "0",
        ])
        try await repo.archive(1...4)
        try await repo.backup("20261104-000000F", start: 3, stop: 4, end: Self.t0.addingTimeInterval(2 * Self.day))

        // Day 0: a (3 MiB, only here) and b (1 MiB, in every snapshot).
        let a = Self.random(3 << 20), b = Self.random(1 << 20), c = Self.random(1 << 20)
        try a.write(to: URL(fileURLWithPath: uploads + "/a.jpg"))
        try b.write(to: URL(fileURLWithPath: uploads + "/b.jpg"))
        let s1 = try await repo.engine(now: Self.t0).filesBackup(type: .full, label: "day 0").snapshot
        // Day 1: a removed, c added. Day 2: unchanged, with the database backup.
        try FileManager.default.removeItem(atPath: uploads + "/a.jpg")
        try c.write(to: URL(fileURLWithPath: uploads + "/c.jpg"))
        let s2 = try await repo.engine(now: Self.t0.addingTimeInterval(Self.day)).filesBackup(type: .incremental, label: "day 1").snapshot
        let s3 = try await repo.engine(now: Self.t0.addingTimeInterval(2 * Self.day)).filesBackup(
            type: .incremental, label: "day 2", databaseBackupID: "20261104-000000F").snapshot
        let expected = try Self.contents(uploads)

        let now = Self.t0.addingTimeInterval(2 * Self.day + 3600)
        let before = try repo.objects()
        let (dry, dryFailures) = try await repo.engine(now: now).expire(ExpireOptions(dryRun: true))
        #expect(dryFailures.isEmpty)
        let planned = try #require(dry.repositories.first?.files)
        #expect(planned.snapshots.map(\.id) == [s1.id, s2.id, s3.id])
        #expect(planned.snapshots.map(\.keep) == [false, true, true], "\(planned.snapshots)")
        #expect(planned.snapshotsDeleted == 1 && planned.packsRewritten == 1 && planned.packsDeleted == 0, "\(planned)")
        #expect(planned.bytesFreed >= 3 << 20 && planned.bytesCopied >= 1 << 20, "\(planned)")
        #expect(try repo.objects() == before, "a dry run writes nothing")

        let (done, failures) = try await repo.engine(now: now).expire(ExpireOptions(apply: dry.planHash))
        #expect(failures.isEmpty, "\(failures)")
        let files = try #require(done.repositories.first?.files)
        #expect(files.snapshotsDeleted == 1 && files.packsRewritten == 1, "\(files)")
        #expect(done.repositories.first?.backups.map(\.keep) == [true])
        let after = try repo.objects()
        let stored = { (objects: [String: Data]) in objects.filter { $0.key.contains("/files/packs/") }.values.reduce(0) { $0 + $1.count } }
        #expect(stored(after) < stored(before) - (3 << 20) + (64 << 10), "the 3 MiB only the dropped snapshot held is gone")
        #expect(!after.keys.contains { $0.hasSuffix("/files/snapshots/" + s1.id) })

        let engine = repo.engine(now: now)
        #expect(try await engine.filesSnapshots().map(\.id) == [s2.id, s3.id])
        for s in [s2, s3] {
            let to = tree.path + "/restore-" + s.id
            _ = try await engine.filesRestore(snapshot: s, options: FilesRestoreOptions(target: to))
            #expect(try Self.contents(to + uploads) == expected, "snapshot \(s.label ?? s.id)")
        }

        // Nothing left to do; the next incremental still dedups against what was kept.
        let (again, _) = try await repo.engine(now: now).expire(ExpireOptions())
        let second = try #require(again.repositories.first?.files)
        #expect(second.snapshotsDeleted == 0 && second.packsRewritten == 0 && second.packsDeleted == 0, "\(second)")
        let next = try await repo.engine(now: now).filesBackup(type: .full, label: "after").snapshot
        #expect(next.counts.newBytes == 0, "every chunk of the tree is still stored once")
    }

    /// A repository without file backups reports `files: null` and expires as before.
    @Test func noFileBackupsNoFilesReport() async throws {
        let repo = try await ExpireTestRepository()
        try await repo.archive(1...2)
        try await repo.backup("20261102-000000F", start: 1, stop: 2, end: Self.t0)
        let (report, _) = try await repo.engine(now: Self.t0.addingTimeInterval(3600)).expire(ExpireOptions(dryRun: true))
        #expect(report.repositories.first?.files == nil)
    }
}

/// FILE_BACKUP_DIR's own repository: expired with the top-level policy, alone with `--repo files`.
@Suite("Expire: the file backup repository")
struct ExpireFilesSeparateRepositoryTests {
    @Test func theFilesRepositoryIsExpiredOnItsOwn() async throws {
        let tree = try Scratch()
        let uploads = tree.path + "/uploads"
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        let repo = try await ExpireTestRepository(environment: [
            "TIDEMARK_FILES_PATHS": uploads, "FILE_BACKUP_DIR": tree.path + "/files-repo", "BACKUP_RETENTION_DAILY": "1",
            "BACKUP_RETENTION_WEEKLY": "0", "BACKUP_RETENTION_MONTHLY": "0", "BACKUP_RETENTION_PITR_DAYS": "0",
        ])
        try await repo.archive(1...2)
        try await repo.backup("20261104-000000F", start: 1, stop: 2, end: ExpireFilesEngineTests.t0.addingTimeInterval(2 * 86_400))
        var ids: [String] = []
        for d in 0..<3 {
            try ExpireFilesEngineTests.random(600 << 10).write(to: URL(fileURLWithPath: uploads + "/day-\(d).png"))
            let when = ExpireFilesEngineTests.t0.addingTimeInterval(Double(d) * 86_400)
            ids.append(try await repo.engine(now: when).filesBackup(type: .incremental, label: nil).snapshot.id)
        }
        let now = ExpireFilesEngineTests.t0.addingTimeInterval(2 * 86_400 + 60)
        let (report, failures) = try await repo.engine(now: now).expire(ExpireOptions(repository: "files"))
        #expect(failures.isEmpty, "\(failures)")
        #expect(report.repositories.map(\.repository) == ["files"])
        let files = try #require(report.repositories.first?.files)
        // The database's window starts at its newest backup's end (no commits archived): day 2
        // is in it, day 1 is the one before it, day 0 goes.
        #expect(files.snapshots.map(\.keep) == [false, true, true], "\(files.snapshots)")
        #expect(files.snapshotsDeleted == 1)
        #expect(try await repo.engine(now: now).filesSnapshots().map(\.id) == Array(ids.dropFirst()))
        // The database repository was not touched by `--repo files`.
        #expect(try await repo.engine(now: now).list().backups.count == 1)
    }
}
