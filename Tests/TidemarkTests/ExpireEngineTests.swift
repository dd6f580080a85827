import Foundation
import Testing
@testable import Tidemark
import TidemarkCore
import TidemarkTesting
@testable import TidemarkRepository
@testable import TidemarkRetention

/// `Engine.expire` on a file-system repository: the plan, --dry-run, the execution, resumed
/// deletions, --apply, restores in progress and the lock.
@Suite("expire (engine)")
struct ExpireEngineTests {
    static let policy = ["BACKUP_RETENTION_DAILY": "1", "BACKUP_RETENTION_WEEKLY": "0", "BACKUP_RETENTION_MONTHLY": "0",
                         "BACKUP_RETENTION_PITR_DAYS": "0"]
    static func day(_ d: Int, _ hour: Int = 3) -> Date {
        // 2026-11-01T00:00:00Z + d - 1 days
        Date(timeIntervalSince1970: TimeInterval(1_793_491_200 + (d - 1) * 86_400 + hour * 3600 + 600))
    }
    static let now = day(9, 12)

    /// Two full chains; the policy keeps the newest backup and its chain.
    func twoChains(_ env: [String: String] = policy) async throws -> ExpireTestRepository {
        let r = try await ExpireTestRepository(environment: env)
        try await r.archive(1...40)
        try await r.backup("20261101-030000F", start: 2, stop: 3, end: Self.day(1))
        try await r.backup("20261102-030000I", parent: "20261101-030000F", start: 10, stop: 11, end: Self.day(2))
        try await r.backup("20261108-030000F", start: 20, stop: 21, end: Self.day(8))
        try await r.backup("20261109-030000I", parent: "20261108-030000F", start: 30, stop: 31, end: Self.day(9))
        return r
    }

    func walSegments(_ r: ExpireTestRepository) throws -> [UInt32] {
        try r.snapshot().keys.filter { $0.hasPrefix("/main/wal/0") }.compactMap { key -> UInt32? in
            let base = key.split(separator: "/").last.map(String.init) ?? ""
            guard base.count == 24 else { return nil }
            return UInt32(base.suffix(8), radix: 16)
        }.sorted()
    }

    @Test func aDryRunPlansExactlyAndWritesNothing() async throws {
        let r = try await twoChains()
        let before = try r.snapshot()
        let (report, failures) = try await r.engine(now: Self.now).expire(ExpireOptions(dryRun: true))
        #expect(failures.isEmpty)
        #expect(try r.snapshot() == before, "a dry run changed the repository")
        let repo = try #require(report.repositories.first)
        #expect(repo.hold == nil && repo.error == nil)
        #expect(repo.backups.filter { !$0.keep }.map(\.id) == ["20261101-030000F", "20261102-030000I"])
        let f2 = try #require(repo.backups.first { $0.id == "20261108-030000F" })
        #expect(f2.keep && f2.reasons.contains("newest full chain") && f2.reasons.contains("parent of 20261109-030000I"), "\(f2.reasons)")
        let i2 = try #require(repo.backups.first { $0.id == "20261109-030000I" })
        #expect(i2.reasons.contains("daily 2026-11-09") && i2.reasons.contains("pitr window"), "\(i2.reasons)")
        // Older keepers keep only their consistency WAL; the newest keeps everything after it.
        #expect(repo.walDeleted.map { "\($0.from)-\($0.to)" } == ["000000010000000000000001-000000010000000000000013",
                                                                   "000000010000000000000016-00000001000000000000001D"])
        #expect(repo.backupsDeleted == 2 && repo.segmentsDeleted == 27)
        #expect(repo.objectsDeleted == 2 * 3 + 27)
    }

    @Test func expireDeletesWhatThePlanSaidAndNothingElse() async throws {
        let r = try await twoChains()
        let planned = try await r.engine(now: Self.now).expire(ExpireOptions(dryRun: true)).0
        let bytesBefore = try r.totalBytes()
        let (report, failures) = try await r.engine(now: Self.now).expire(ExpireOptions())
        #expect(failures.isEmpty)
        let repo = try #require(report.repositories.first)
        #expect(report.planHash == planned.planHash)
        #expect(repo.bytesFreed == planned.repositories.first?.bytesFreed)
        #expect(try bytesBefore - r.totalBytes() == repo.bytesFreed, "the repository shrank by something else than the plan said")
        #expect(try walSegments(r) == [20, 21] + Array(30...40))
        let ids = try await BackupStore(repository: r.repository, stanza: "main").catalogs().map(\.id.rawValue)
        #expect(ids == ["20261108-030000F", "20261109-030000I"])
        #expect(try r.snapshot().keys.filter { $0.contains("/deleting/") }.isEmpty, "a deletion mark was left")
        // Run again: nothing more to do.
        let again = try await r.engine(now: Self.now).expire(ExpireOptions()).0
        #expect(again.repositories.first?.objectsDeleted == 0)
    }

    @Test func anInterruptedDeletionIsHiddenAndFinishedByTheNextRun() async throws {
        let r = try await twoChains(["BACKUP_RETENTION_DAILY": "30", "BACKUP_RETENTION_PITR_DAYS": "30"])
        let store = BackupStore(repository: r.repository, stanza: "main")
        let victim = try #require(BackupID(rawValue: "20261102-030000I"))
        try await store.markForDeletion(DeletionMarker(id: victim, command: "expire", startedAt: "2026-11-09T12:00:00Z"))
        // As if killed half-way: one pack already gone.
        try await r.repository.store.delete(RepositoryLayout.backupObject("main", victim, "pack-00000"))
        let dry = try await r.engine(now: Self.now).expire(ExpireOptions(dryRun: true)).0
        #expect(dry.repositories.first?.resumed == [victim.rawValue])
        #expect(dry.repositories.first?.backups.contains { $0.id == victim.rawValue } == false, "a marked backup was planned as if whole")
        let report = try await r.engine(now: Self.now).expire(ExpireOptions()).0
        #expect(report.repositories.first?.resumed == [victim.rawValue])
        #expect(try r.snapshot().keys.filter { $0.contains(victim.rawValue) }.isEmpty, "the interrupted deletion was not finished")
        #expect(try await store.catalogs().count == 3)
    }

    @Test func applyRunsOnlyTheSamePlan() async throws {
        let r = try await twoChains()
        let hash = try await r.engine(now: Self.now).expire(ExpireOptions(dryRun: true)).0.planHash
        try await r.archive(41...42)
        try await r.backup("20261109-090000I", parent: "20261109-030000I", start: 41, stop: 42, end: Self.day(9, 9))
        let before = try r.snapshot()
        let e = await expectError(.conflict) { _ = try await r.engine(now: Self.now).expire(ExpireOptions(apply: hash)) }
        #expect(e?.message.contains(hash) == true, "\(String(describing: e))")
        #expect(try r.objects() == before.filter { !$0.key.contains("/lock/") && !$0.key.hasSuffix("/catalog.index") })
        let fresh = try await r.engine(now: Self.now).expire(ExpireOptions(dryRun: true)).0.planHash
        #expect(fresh != hash)
        let applied = try await r.engine(now: Self.now).expire(ExpireOptions(apply: fresh)).0
        #expect(applied.repositories.first?.backups.filter { !$0.keep }.map(\.id) == ["20261101-030000F", "20261102-030000I"])
        #expect(applied.repositories.first?.backupsDeleted == 2)
    }

    @Test func aRestoreInProgressKeepsItsBackupAndItsWAL() async throws {
        let r = try await twoChains()
        let old = try #require(BackupID(rawValue: "20261101-030000F"))
        let presence = try await ReaderPresence.register(store: r.repository.store, stanza: "main", command: "restore", backup: old,
                                                         timeline: 1, now: Self.now, seconds: 3600)
        let repo = try #require(try await r.engine(now: Self.now).expire(ExpireOptions()).0.repositories.first)
        let kept = try #require(repo.backups.first { $0.id == old.rawValue })
        #expect(kept.keep && kept.reasons.contains { $0.hasPrefix("in use by restore pid") }, "\(kept.reasons)")
        #expect(try walSegments(r) == Array(2...40), "the WAL the restore's recovery reads was deleted")
        // Once the record has ended, the next run deletes what it held.
        await presence.remove()
        _ = try await r.engine(now: Self.now).expire(ExpireOptions())
        #expect(try walSegments(r) == [20, 21] + Array(30...40))
    }

    @Test func aRunningBackupMakesExpireFailAtOnceNamingIt() async throws {
        let r = try await twoChains()
        let lease = try await r.engine(now: Date()).stanzaLock(in: r.repository).acquire(command: "backup")
        let before = try r.snapshot()
        let e = await expectError(.busy) { _ = try await r.engine(now: Self.now).expire(ExpireOptions()) }
        #expect(e?.message.contains("held by backup") == true, "\(String(describing: e))")
        #expect(try r.snapshot() == before)
        await lease.release()
    }
}
