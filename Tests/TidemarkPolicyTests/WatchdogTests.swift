import Foundation
import Testing
import TidemarkPolicy

/// The absence rules, each with worked examples on both sides of its boundary.
@Suite("Watchdog")
struct WatchdogTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)   // 2027-01-15T08:00:00Z
    static let hour: TimeInterval = 3600
    static let day: TimeInterval = 86400
    static let limits = AlertThresholds()

    /// A healthy observation: every rule quiet.
    static func healthy() -> WatchdogObservation {
        WatchdogObservation(now: now, lastSuccessfulBackup: now - 2 * hour, lastArchived: now - 60,
                            unarchivedCompletedSegments: 0, readySegments: 1,
                            restorableWindow: (start: now - 7 * day, end: now - 60), promisedWindow: 7 * day,
                            oldestBackup: now - 7 * day,
                            storage: [StorageUse(repository: "local", usedBytes: 50, capacityBytes: 100)])
    }

    static func keys(_ o: WatchdogObservation, _ t: AlertThresholds = limits) -> [String] {
        Watchdog.evaluate(o, t).map(\.key)
    }

    @Test func theDefaultsAreTheIssues() {
        #expect(Self.limits == AlertThresholds(maxBackupAge: 26 * 3600, maxArchiveSilence: 1800, maxReadySegments: 64, storagePercent: 80))
    }

    @Test func aHealthyObservationRaisesNothing() {
        #expect(Watchdog.evaluate(Self.healthy(), Self.limits).isEmpty)
    }

    // MARK: backup.stale

    @Test(arguments: [(93600, false), (93601, true), (93240, false), (109_800, true)] as [(Double, Bool)])
    func backupStaleAfterMaxBackupAge(seconds: Double, stale: Bool) {
        var o = Self.healthy()
        o.lastSuccessfulBackup = Self.now - seconds
        #expect(Self.keys(o) == (stale ? ["backup.stale"] : []))
    }

    @Test func backupStaleSaysHowLongAndWhatToDo() throws {
        var o = Self.healthy()
        o.lastSuccessfulBackup = Self.now - 30.5 * Self.hour
        let c = try #require(Watchdog.evaluate(o, Self.limits).first)
        #expect(c.severity == .critical)
        #expect(c.summary == "no successful backup for 30.5 hours (limit 26 hours); the newest ended 2027-01-14T01:30:00Z")
        #expect(c.detail.contains("no new restore point since 2027-01-14T01:30:00Z"))
        #expect(c.hint.contains("tidemark run-job full"))
    }

    @Test func noBackupEverIsStale() throws {
        var o = Self.healthy()
        o.lastSuccessfulBackup = nil
        let c = try #require(Watchdog.evaluate(o, Self.limits).first)
        #expect(c.key == "backup.stale")
        #expect(c.summary == "no successful backup yet")
    }

    @Test func aStricterLimitIsHonoured() {
        var o = Self.healthy()
        o.lastSuccessfulBackup = Self.now - 3 * Self.hour
        #expect(Self.keys(o, AlertThresholds(maxBackupAge: 2 * Self.hour)) == ["backup.stale"])
    }

    // MARK: archive.silent

    @Test(arguments: [(1800, 1, false), (1801, 1, true), (2700, 0, false), (2700, 3, true), (1740, 5, false)] as [(Double, Int, Bool)])
    func archiveSilentWhileSegmentsWait(seconds: Double, waiting: Int, silent: Bool) {
        var o = Self.healthy()
        o.lastArchived = Self.now - seconds
        o.unarchivedCompletedSegments = waiting
        #expect(Self.keys(o) == (silent ? ["archive.silent"] : []))
    }

    @Test func archiveSilentSaysHowLongAndHowMany() throws {
        var o = Self.healthy()
        o.lastArchived = Self.now - 45 * 60
        o.unarchivedCompletedSegments = 3
        let c = try #require(Watchdog.evaluate(o, Self.limits).first)
        #expect(c.severity == .critical)
        #expect(c.summary == "nothing archived for 45 minutes (limit 30 minutes) while 3 completed WAL segments wait")
        #expect(c.detail.contains("archived by 2027-01-15T07:15:00Z"))
        #expect(c.hint.contains("archive_command"))
    }

    @Test func nothingEverArchivedCountsOnlyWhileSegmentsWait() {
        var o = Self.healthy()
        o.lastArchived = nil
        o.unarchivedCompletedSegments = 1
        #expect(Watchdog.evaluate(o, Self.limits).map(\.summary) == ["nothing ever archived while 1 completed WAL segment waits"])
        o.unarchivedCompletedSegments = 0
        #expect(Self.keys(o).isEmpty)
    }

    @Test func anUnreachableServerIsNotSilence() {
        var o = Self.healthy()
        o.lastArchived = Self.now - 5 * Self.hour
        o.unarchivedCompletedSegments = nil
        o.probeErrors = ["server": "unable to connect to 'localhost:5432': connection refused"]
        #expect(Self.keys(o) == ["probe.server"])
    }

    // MARK: archive.backlog

    @Test(arguments: [(64, false), (65, true), (0, false), (500, true)] as [(Int, Bool)])
    func backlogAboveMaxReadySegments(ready: Int, alert: Bool) {
        var o = Self.healthy()
        o.readySegments = ready
        #expect(Self.keys(o) == (alert ? ["archive.backlog"] : []))
    }

    @Test func backlogSaysHowMany() throws {
        var o = Self.healthy()
        o.readySegments = 65
        let c = try #require(Watchdog.evaluate(o, Self.limits).first)
        #expect(c.summary == "65 WAL segments wait to be archived (.ready files; limit 64)")
        #expect(c.severity == .warning)
    }

    // MARK: window.short

    /// Promised 7 days, backups reach back 7 days: the window may be 6.3 days (10 % short), not less.
    @Test(arguments: [(6.3, false), (6.29, true), (7.0, false), (0.0, true)] as [(Double, Bool)])
    func windowShorterThanPromisedByMoreThanTenPercent(days: Double, short: Bool) {
        var o = Self.healthy()
        o.restorableWindow = (start: Self.now - days * Self.day, end: Self.now)
        #expect(Self.keys(o) == (short ? ["window.short"] : []))
    }

    @Test func aYoungRepositoryIsMeasuredByItsOldestBackup() {
        // Two days old, seven promised: two days expected, 1.8 is within 10 %.
        var o = Self.healthy()
        o.oldestBackup = Self.now - 2 * Self.day
        o.restorableWindow = (start: Self.now - 1.8 * Self.day, end: Self.now)
        #expect(Self.keys(o).isEmpty)
        o.restorableWindow = (start: Self.now - 1.7 * Self.day, end: Self.now)
        #expect(Self.keys(o) == ["window.short"])
    }

    @Test func aYoungWindowIsMeasuredToItsEndNotToNow() {
        // The first backup finished 3 minutes ago and the newest archived commit is 30 s old:
        // the window spans all the archive holds, however far it lags behind now.
        var o = Self.healthy()
        o.oldestBackup = Self.now - 180
        o.restorableWindow = (start: Self.now - 180, end: Self.now - 30)
        #expect(Self.keys(o).isEmpty)
        o.restorableWindow = (start: Self.now - 100, end: Self.now - 30)
        #expect(Self.keys(o) == ["window.short"])
    }

    @Test func windowShortSaysTheFigures() throws {
        var o = Self.healthy()
        o.restorableWindow = (start: Self.now - 2 * Self.day, end: Self.now - Self.hour)
        let c = try #require(Watchdog.evaluate(o, Self.limits).first)
        #expect(c.summary == "the restorable window is 47 hours (2027-01-13T08:00:00Z to 2027-01-15T07:00:00Z), expected 7 days")
        #expect(c.hint.contains("tidemark verify"))
    }

    @Test func anUnknownWindowOrNoBackupIsNotJudged() {
        var o = Self.healthy()
        o.restorableWindow = nil
        #expect(Self.keys(o).isEmpty)
        o = Self.healthy()
        o.oldestBackup = nil
        o.restorableWindow = (start: Self.now, end: Self.now)
        #expect(Self.keys(o).isEmpty)
    }

    // MARK: storage.full.<repository>

    @Test(arguments: [(80, false), (81, true), (79, false), (100, true)] as [(Int64, Bool)])
    func storageAboveStoragePercent(used: Int64, full: Bool) {
        var o = Self.healthy()
        o.storage = [StorageUse(repository: "s3", usedBytes: used, capacityBytes: 100)]
        #expect(Self.keys(o) == (full ? ["storage.full.s3"] : []))
    }

    @Test func storageFullNamesTheRepositoryAndTheBytes() {
        var o = Self.healthy()
        let gib: Int64 = 1 << 30
        o.storage = [StorageUse(repository: "local", usedBytes: 850 * gib, capacityBytes: 1000 * gib),
                     StorageUse(repository: "s3", usedBytes: 99 * gib, capacityBytes: nil),
                     StorageUse(repository: "offsite", usedBytes: 97, capacityBytes: 100)]
        let conditions = Watchdog.evaluate(o, Self.limits)
        #expect(conditions.map(\.key) == ["storage.full.local", "storage.full.offsite"])
        #expect(conditions.first?.summary == "repository 'local' is 85 % full (850 GiB of 1000 GiB; limit 80 %)")
        #expect(conditions.map(\.severity) == [.warning, .critical])
        #expect(conditions.first?.hint.contains("tidemark expire --dry-run") == true)
    }

    @Test func aZeroCapacityIsNotJudged() {
        var o = Self.healthy()
        o.storage = [StorageUse(repository: "odd", usedBytes: 5, capacityBytes: 0)]
        #expect(Self.keys(o).isEmpty)
    }

    // MARK: probes and order

    @Test func probeErrorsBecomeConditionsByName() {
        var o = Self.healthy()
        o.probeErrors = ["repository.s3": "unable to list 'bucket/stanza': 403", "pg_wal": "permission denied"]
        let conditions = Watchdog.evaluate(o, Self.limits)
        #expect(conditions.map(\.key) == ["probe.pg_wal", "probe.repository.s3"])
        #expect(conditions.last?.summary == "unable to check repository.s3: unable to list 'bucket/stanza': 403")
    }

    @Test func everythingWrongAtOnceComesInAFixedOrder() {
        let o = WatchdogObservation(now: Self.now, lastSuccessfulBackup: nil, lastArchived: nil,
                                    unarchivedCompletedSegments: 9, readySegments: 100,
                                    restorableWindow: (start: Self.now, end: Self.now), promisedWindow: 7 * Self.day,
                                    oldestBackup: Self.now - 3 * Self.day,
                                    storage: [StorageUse(repository: "b", usedBytes: 9, capacityBytes: 10),
                                              StorageUse(repository: "a", usedBytes: 9, capacityBytes: 10)],
                                    probeErrors: ["x": "y"])
        #expect(Self.keys(o) == ["backup.stale", "archive.silent", "archive.backlog", "window.short",
                                 "storage.full.b", "storage.full.a", "probe.x"])
    }

    @Test func figuresInWords() {
        let t = AlertThresholds()
        var o = Self.healthy()
        o.lastSuccessfulBackup = Self.now - 3 * Self.day
        #expect(Watchdog.evaluate(o, t).first?.summary.hasPrefix("no successful backup for 3 days (limit 26 hours)") == true)
        o.lastSuccessfulBackup = Self.now - 90 * 60
        #expect(Self.keys(o, AlertThresholds(maxBackupAge: 100)).isEmpty == false)
        #expect(Watchdog.evaluate(o, AlertThresholds(maxBackupAge: 100)).first?.summary.hasPrefix("no successful backup for 90 minutes (limit 100 seconds)") == true)
    }
}
