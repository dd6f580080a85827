import Testing
import TidemarkCore
@testable import TidemarkPolicy

/// Retention of file snapshots: worked examples for each rule, and a generated check that the
/// kept snapshots answer `files restore --as-of T` exactly as all of them did, for every T in
/// the PITR window.
@Suite("File snapshot retention")
struct FilesRetentionTests {
    static let day: Int64 = 86_400
    /// 2026-11-01 00:00 UTC.
    static let base: Int64 = 1_793_491_200

    static func snap(_ n: Int, at t: Int64, db: String? = nil) -> FilesRetention.Snapshot {
        let hex = String(n, radix: 16)
        return FilesRetention.Snapshot(id: String(repeating: "0", count: 32 - hex.count) + hex, time: t, databaseBackup: db)
    }

    static func kept(_ plan: FilesRetention.Plan) -> Set<String> { Set(plan.kept) }

    /// Four snapshots a day for ten days; 3 daily, nothing else: the newest of each of the last
    /// three days is kept, the rest deleted.
    @Test func dailyTierKeepsTheNewestOfEachDay() {
        var snapshots: [FilesRetention.Snapshot] = []
        for d in 0..<10 { for q in 0..<4 { snapshots.append(Self.snap(d * 4 + q, at: Self.base + Int64(d) * Self.day + Int64(q) * 6 * 3600)) } }
        let policy = RetentionPolicy(daily: 3, weekly: 0, monthly: 0, yearly: 0, pitrDays: 0)
        let now = Self.base + 9 * Self.day + 20 * 3600
        let plan = FilesRetention.evaluate(policy, snapshots: snapshots, keptDatabaseBackups: [], windowStart: nil, now: now)
        #expect(plan.hold == nil)
        #expect(Self.kept(plan) == Set([39, 35, 31].map { Self.snap($0, at: 0).id }))
        #expect(plan.deleted.count == 37)
        let newest = plan.decisions.first { $0.id == Self.snap(39, at: 0).id }
        #expect(newest?.reasons == ["newest", "daily 2026-11-10"])
        #expect(plan.decisions.first?.reasons == [Retention.deletedReason])
    }

    /// A two-day window: everything inside it and the newest one before it.
    @Test func pitrWindowKeepsItsSnapshotsAndTheOneBeforeIt() {
        let snapshots = (0..<12).map { Self.snap($0, at: Self.base + Int64($0) * Self.day / 2) }  // every 12 h
        let policy = RetentionPolicy(daily: 0, weekly: 0, monthly: 0, yearly: 0, pitrDays: 2)
        let now = Self.base + 11 * Self.day / 2 + 3600
        let plan = FilesRetention.evaluate(policy, snapshots: snapshots, keptDatabaseBackups: [], windowStart: nil, now: now)
        // Window start: now - 2 days = base + 3.5 days + 1 h; inside: 8..11 (4, 4.5, 5, 5.5 days); anchor: 7.
        #expect(Self.kept(plan) == Set((7...11).map { Self.snap($0, at: 0).id }))
    }

    /// The database plan's window start wins over `pitrDays` when given.
    @Test func theDatabaseWindowStartIsUsed() {
        let snapshots = (0..<6).map { Self.snap($0, at: Self.base + Int64($0) * Self.day) }
        let policy = RetentionPolicy(daily: 0, weekly: 0, monthly: 0, yearly: 0, pitrDays: 1)
        let plan = FilesRetention.evaluate(policy, snapshots: snapshots, keptDatabaseBackups: [],
                                           windowStart: Self.base + 2 * Self.day + 1, now: Self.base + 5 * Self.day + 60)
        #expect(Self.kept(plan) == Set((2...5).map { Self.snap($0, at: 0).id }))
    }

    /// A snapshot taken with a kept database backup stays, whatever its age.
    @Test func aSnapshotOfAKeptDatabaseBackupIsKept() {
        let snapshots = [Self.snap(1, at: Self.base, db: "20261101T000000F"), Self.snap(2, at: Self.base + Self.day, db: "20261102T000000F"),
                         Self.snap(3, at: Self.base + 2 * Self.day)]
        let policy = RetentionPolicy(daily: 1, weekly: 0, monthly: 0, yearly: 0, pitrDays: 0)
        let plan = FilesRetention.evaluate(policy, snapshots: snapshots, keptDatabaseBackups: ["20261101T000000F"],
                                           windowStart: nil, now: Self.base + 2 * Self.day + 60)
        #expect(Self.kept(plan) == [Self.snap(1, at: 0).id, Self.snap(3, at: 0).id])
        #expect(plan.decisions[0].reasons == ["with database backup 20261101T000000F"])
    }

    /// File backups stopped three days ago under a daily policy: nothing is deleted.
    @Test func staleFileBackupsHoldEverything() {
        let snapshots = (0..<5).map { Self.snap($0, at: Self.base + Int64($0) * Self.day) }
        let policy = RetentionPolicy(daily: 1, weekly: 0, monthly: 0, yearly: 0, pitrDays: 0)
        let plan = FilesRetention.evaluate(policy, snapshots: snapshots, keptDatabaseBackups: [], windowStart: nil,
                                           now: Self.base + 7 * Self.day)
        #expect(plan.hold?.contains("file backups are failing") == true)
        #expect(plan.deleted.isEmpty)
        #expect(plan.kept.count == 5)
    }

    /// Snapshots after `asOf` are kept; the tiers count only those before it.
    @Test func asOfKeepsNewerSnapshots() {
        let snapshots = (0..<6).map { Self.snap($0, at: Self.base + Int64($0) * Self.day) }
        let policy = RetentionPolicy(daily: 1, weekly: 0, monthly: 0, yearly: 0, pitrDays: 0)
        let plan = FilesRetention.evaluate(policy, snapshots: snapshots, keptDatabaseBackups: [], windowStart: nil,
                                           now: Self.base + 5 * Self.day + 60, asOf: Self.base + 2 * Self.day + 60)
        #expect(Self.kept(plan) == Set((2...5).map { Self.snap($0, at: 0).id }))
        #expect(plan.decisions[3].reasons.contains("newer than as-of"))
    }

    @Test func noSnapshotsNoPlan() {
        let plan = FilesRetention.evaluate(.default, snapshots: [], keptDatabaseBackups: [], windowStart: nil, now: Self.base)
        #expect(plan.decisions.isEmpty)
        #expect(plan.hold == nil)
    }

    /// Generated histories: for every instant T from the window start to now, the newest kept
    /// snapshot at or before T is the newest of all at or before T; and the newest is kept.
    @Test func keptSnapshotsAnswerEveryAsOfInTheWindow() {
        var rng = SplitMix64(seed: 0x5eed_f11e)
        for _ in 0..<200 {
            let count = Int(rng.next() % 60) + 1
            var t = Self.base
            var snapshots: [FilesRetention.Snapshot] = []
            for i in 0..<count {
                t += Int64(rng.next() % UInt64(2 * Self.day)) + 1
                snapshots.append(Self.snap(i, at: t))
            }
            let now = t + Int64(rng.next() % UInt64(Self.day))
            let policy = RetentionPolicy(daily: Int(rng.next() % 8), weekly: Int(rng.next() % 5), monthly: Int(rng.next() % 3),
                                         yearly: 0, pitrDays: Int(rng.next() % 10) + 1)
            let plan = FilesRetention.evaluate(policy, snapshots: snapshots, keptDatabaseBackups: [], windowStart: nil, now: now)
            if plan.hold != nil { continue }
            let kept = Set(plan.kept)
            #expect(kept.contains(snapshots[snapshots.count - 1].id))
            let start = now - Int64(policy.pitrDays) * Self.day
            let probes = snapshots.map(\.time).filter { $0 >= start } + [start, now] + snapshots.map { $0.time - 1 }.filter { $0 >= start }
            for probe in probes {
                let all = snapshots.last { $0.time <= probe }?.id
                let fromKept = snapshots.last { $0.time <= probe && kept.contains($0.id) }?.id
                #expect(all == fromKept, "as-of \(probe), policy \(policy)")
            }
        }
    }
}
