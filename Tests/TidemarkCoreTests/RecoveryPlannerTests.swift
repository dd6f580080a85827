import Testing
import TidemarkCore

/// A synthetic archive: 1 MiB segments, ten completions per segment, one every 10 s.
private struct Archive {
    let size = WALSegmentSize(rawValue: 1 << 20)!
    var segments: [TimelineID: Set<SegmentNumber>] = [:]
    var events: [WALSegmentName: [WALCompletion]] = [:]
    var restorePoints: [WALSegmentName: [WALRestorePoint]] = [:]
    var starts: [WALSegmentName: TimelineStart] = [:]
    var histories: [TimelineHistory] = []
    var damaged: [TimelineID: String] = [:]
    var nextXid: UInt32 = 1000

    static let t0 = PostgresTimestamp(unixSeconds: 1_800_000_000)

    /// Commit `k` (0..<10) of segment `s` on timeline `tl` happens at t0 + base + (s*10 + k)*10 s.
    mutating func addSegment(_ s: SegmentNumber, timeline tl: UInt32 = 1, timeBase: Int64 = 0, from: Int = 0) {
        let t = TimelineID(tl)
        segments[t, default: []].insert(s)
        let name = WALSegmentName(timeline: t, segment: s, size: size)
        var list: [WALCompletion] = []
        for k in from..<10 {
            let lsn = LSN.start(of: s, size: size).rawValue + UInt64(k + 1) * 80_000
            let time = Self.t0.adding(microseconds: (timeBase + Int64(s) * 100 + Int64(k) * 10) * 1_000_000)
            list.append(WALCompletion(lsn: LSN(lsn), end: LSN(lsn + 40), xid: nextXid, time: time))
            nextXid += 1
        }
        events[name] = list
    }

    func time(segment s: SegmentNumber, k: Int, base: Int64 = 0) -> PostgresTimestamp {
        Self.t0.adding(microseconds: (base + Int64(s) * 100 + Int64(k) * 10) * 1_000_000)
    }

    func lsn(segment s: SegmentNumber, k: Int) -> LSN {
        LSN(LSN.start(of: s, size: size).rawValue + UInt64(k + 1) * 80_000)
    }

    func inventory(withDetails: Bool = false) -> WALInventory {
        var summaries: [WALSegmentName: SegmentSummary] = [:]
        for (tl, set) in segments {
            for s in set {
                let n = WALSegmentName(timeline: tl, segment: s, size: size)
                summaries[n] = SegmentSummary(firstRecordLSN: LSN.start(of: s, size: size), endLSN: LSN.start(of: s + 1, size: size),
                                              completions: events[n] ?? [], restorePoints: restorePoints[n] ?? [],
                                              timelineStart: starts[n])
            }
        }
        return WALInventory(segmentSize: size, segments: segments, graph: TimelineGraph(histories: histories, damaged: damaged),
                            summaries: summaries, details: withDetails ? events : [:])
    }

    func backup(_ id: String, start s: SegmentNumber, stop: SegmentNumber, timeline: UInt32 = 1) -> PlannerBackup {
        PlannerBackup(id: id, timeline: TimelineID(timeline), startLSN: LSN(LSN.start(of: s, size: size).rawValue + 8),
                      stopLSN: LSN(LSN.start(of: stop, size: size).rawValue + 900_000),
                      startTime: time(segment: s, k: 0).adding(microseconds: -1_000_000),
                      stopTime: time(segment: stop, k: 9).adding(microseconds: 1_000_000))
    }

    /// Plans, answering the planner's requests for segment details like the engine does;
    /// counts how many segments were read in full.
    func plan(_ request: PlanRequest, backups: [PlannerBackup]) -> (PlanOutcome, Int) {
        var inv = inventory()
        var reads = 0
        while true {
            let outcome = RecoveryPlanner(backups: backups, inventory: inv).plan(request)
            guard case .needsDetail(let names) = outcome else { return (outcome, reads) }
            for n in names {
                #expect(inv.details[n] == nil, "asked twice for \(n)")
                inv.details[n] = events[n] ?? []
                reads += 1
            }
        }
    }
}

private func plan(_ outcome: PlanOutcome) throws -> RecoveryPlan {
    switch outcome {
    case .plan(let p): return p
    case .unreachable(let u): throw u
    case .needsDetail(let n): throw PlanTestError.unexpectedDetail(n)
    }
}

private enum PlanTestError: Error { case unexpectedDetail([WALSegmentName]) }

private func unreachable(_ outcome: PlanOutcome) -> Unreachable? {
    if case .unreachable(let u) = outcome { return u }
    return nil
}

private func linear() -> (Archive, [PlannerBackup]) {
    var a = Archive()
    for s in SegmentNumber(2)...12 { a.addSegment(s) }
    return (a, [a.backup("B1", start: 2, stop: 2), a.backup("B2", start: 6, stop: 6)])
}

@Suite("Recovery planner", .tags(.small))
struct RecoveryPlannerTests {
    @Test func timeBetweenCommitsPicksNewestBackupAndStopsBeforeTheNextCommit() throws {
        let (a, backups) = linear()
        // Between commit 3 (t=...830) and commit 4 (...840) of segment 8.
        let target = a.time(segment: 8, k: 3).adding(microseconds: 5_000_000)
        let (outcome, reads) = a.plan(PlanRequest(target: .time(target)), backups: backups)
        let p = try plan(outcome)
        #expect(p.backup.id == "B2")
        #expect(p.stop == .before(WALCompletion(lsn: a.lsn(segment: 8, k: 4), end: LSN(a.lsn(segment: 8, k: 4).rawValue + 40),
                                                xid: 1000 + 6 * 10 + 4, time: a.time(segment: 8, k: 4))))
        #expect(p.lastCompletion?.lsn == a.lsn(segment: 8, k: 3))
        #expect(p.lastCompletion?.time == a.time(segment: 8, k: 3))
        #expect(p.segments.map(\.description) == (6...8).map { WALSegmentName(timeline: TimelineID(1), segment: SegmentNumber($0), size: a.size).description })
        #expect(p.targetTimeline == TimelineID(1))
        #expect(reads <= 2, "only the segments around the stop are read in full, not \(reads)")
    }

    @Test func exactlyAtACommitIsInclusiveByDefaultAndExclusiveOnRequest() throws {
        let (a, backups) = linear()
        let target = a.time(segment: 9, k: 5)
        let inclusive = try plan(a.plan(PlanRequest(target: .time(target)), backups: backups).0)
        #expect(inclusive.lastCompletion?.lsn == a.lsn(segment: 9, k: 5))
        #expect(inclusive.stop.lsn == a.lsn(segment: 9, k: 6))
        let exclusive = try plan(a.plan(PlanRequest(target: .time(target), inclusive: false), backups: backups).0)
        #expect(exclusive.lastCompletion?.lsn == a.lsn(segment: 9, k: 4))
        #expect(exclusive.stop.lsn == a.lsn(segment: 9, k: 5))
    }

    @Test func aTimeBeforeTheNewestBackupFallsBackToAnOlderOne() throws {
        let (a, backups) = linear()
        let p = try plan(a.plan(PlanRequest(target: .time(a.time(segment: 4, k: 2))), backups: backups).0)
        #expect(p.backup.id == "B1")
        #expect(p.notes.contains { $0.contains("B2") })
        #expect(p.lastCompletion?.lsn == a.lsn(segment: 4, k: 2))
    }

    @Test func aTimeBeforeEveryBackupIsUnreachableWithTheEarliestAlternative() throws {
        let (a, backups) = linear()
        let u = try #require(unreachable(a.plan(PlanRequest(target: .time(a.time(segment: 2, k: 3))), backups: backups).0))
        #expect(u.reason == .beforeOldestBackup)
        #expect(u.alternatives.contains { $0.contains("B1") })
    }

    @Test func aTimeAfterTheLastArchivedCommitIsUnreachable() throws {
        let (a, backups) = linear()
        let last = a.time(segment: 12, k: 9)
        let u = try #require(unreachable(a.plan(PlanRequest(target: .time(last)), backups: backups).0))
        #expect(u.reason == .afterLastCommit)
        #expect(u.message.contains(last.postgresText))
        // One microsecond earlier is fine and stops before that last commit.
        let p = try plan(a.plan(PlanRequest(target: .time(last.adding(microseconds: -1))), backups: backups).0)
        #expect(p.stop.lsn == a.lsn(segment: 12, k: 9))
    }

    @Test func aMissingSegmentIsNamed() throws {
        var (a, backups) = linear()
        a.segments[TimelineID(1)]?.remove(7)
        let u = try #require(unreachable(a.plan(PlanRequest(target: .time(a.time(segment: 9, k: 1))), backups: backups).0))
        #expect(u.reason == .missingSegment)
        #expect(u.missing == "000000010000000000000007")
        let latest = try #require(unreachable(a.plan(PlanRequest(target: .latest), backups: backups).0))
        #expect(latest.missing == "000000010000000000000007")
        // Before the gap still works.
        let p = try plan(a.plan(PlanRequest(target: .time(a.time(segment: 5, k: 5))), backups: backups).0)
        #expect(p.backup.id == "B1")
        #expect(p.lastCompletion?.lsn == a.lsn(segment: 5, k: 5))
    }

    @Test func latestImmediateLSNXidAndName() throws {
        var (a, backups) = linear()
        let rpName = WALSegmentName(timeline: TimelineID(1), segment: 10, size: a.size)
        let rp = WALRestorePoint(name: "before-migration", lsn: LSN(a.lsn(segment: 10, k: 2).rawValue + 100),
                                 end: LSN(a.lsn(segment: 10, k: 2).rawValue + 200), time: a.time(segment: 10, k: 2))
        a.restorePoints[rpName] = [rp]

        let latest = try plan(a.plan(PlanRequest(target: .latest), backups: backups).0)
        #expect(latest.backup.id == "B2")
        #expect(latest.stop == .endOfArchive(LSN.start(of: 13, size: a.size)))
        #expect(latest.lastCompletion?.lsn == a.lsn(segment: 12, k: 9))
        #expect(latest.segments.count == 7)

        let immediate = try plan(a.plan(PlanRequest(target: .immediate, backup: "B1"), backups: backups).0)
        #expect(immediate.backup.id == "B1")
        #expect(immediate.stop == .consistency(backups[0].stopLSN))
        #expect(immediate.segments.count == 1)

        let lsn = a.lsn(segment: 11, k: 0)
        let byLSN = try plan(a.plan(PlanRequest(target: .lsn(lsn)), backups: backups).0)
        #expect(byLSN.stop == .lsn(lsn, inclusive: true))
        #expect(byLSN.segments.last?.description == "00000001000000000000000B")
        #expect(unreachable(a.plan(PlanRequest(target: .lsn(LSN.start(of: 40, size: a.size))), backups: backups).0)?.reason == .afterArchiveEnd)

        let xid: UInt32 = 1000 + 7 * 10 + 3   // segment 9, commit 3
        let byXid = try plan(a.plan(PlanRequest(target: .xid(xid)), backups: backups).0)
        #expect(byXid.stop == .after(WALCompletion(lsn: a.lsn(segment: 9, k: 3), end: LSN(a.lsn(segment: 9, k: 3).rawValue + 40),
                                                   xid: xid, time: a.time(segment: 9, k: 3))))
        #expect(byXid.lastCompletion?.xid == xid)
        let xidBefore = try plan(a.plan(PlanRequest(target: .xid(xid), inclusive: false), backups: backups).0)
        #expect(xidBefore.lastCompletion?.xid == xid - 1)
        #expect(unreachable(a.plan(PlanRequest(target: .xid(5)), backups: backups).0)?.reason == .targetNotFound)

        let byName = try plan(a.plan(PlanRequest(target: .name("before-migration")), backups: backups).0)
        #expect(byName.stop == .restorePoint(rp))
        #expect(byName.lastCompletion?.lsn == a.lsn(segment: 10, k: 2))
        let missing = try #require(unreachable(a.plan(PlanRequest(target: .name("nope")), backups: backups).0))
        #expect(missing.reason == .targetNotFound)
        #expect(missing.alternatives.contains("--target-name 'before-migration'"))
    }

    /// Timeline 1 runs to segment 9. A PITR at segment 5 (commit 5) starts timeline 2 later,
    /// after every timeline-1 commit; timeline 2 continues to segment 8.
    fileprivate func branched(later: Int64 = 10_000) -> (Archive, [PlannerBackup], LSN, PostgresTimestamp) {
        var a = Archive()
        for s in SegmentNumber(2)...9 { a.addSegment(s) }
        let switchpoint = LSN(a.lsn(segment: 5, k: 5).rawValue + 40)
        a.histories = [TimelineHistory(timeline: TimelineID(2), switches: [TimelineSwitch(parent: TimelineID(1), switchpoint: switchpoint, reason: "before ...")])]
        // Timeline 2's first file copies timeline 1 up to the switchpoint, then goes on `later`.
        var copied = Array(a.events[WALSegmentName(timeline: TimelineID(1), segment: 5, size: a.size)]!.prefix(6))
        a.segments[TimelineID(2), default: []].insert(5)
        let born = a.time(segment: 5, k: 6, base: later).adding(microseconds: -2_000_000)
        for k in 6..<10 {
            let lsn = a.lsn(segment: 5, k: k)
            copied.append(WALCompletion(lsn: lsn, end: LSN(lsn.rawValue + 40), xid: 5000 + UInt32(k), time: a.time(segment: 5, k: k, base: later)))
        }
        a.events[WALSegmentName(timeline: TimelineID(2), segment: 5, size: a.size)] = copied
        a.starts[WALSegmentName(timeline: TimelineID(2), segment: 5, size: a.size)] =
            TimelineStart(lsn: switchpoint, time: born, timeline: TimelineID(2), previous: TimelineID(1))
        for s in SegmentNumber(6)...8 { a.addSegment(s, timeline: 2, timeBase: later) }
        return (a, [a.backup("B1", start: 3, stop: 3)], switchpoint, born)
    }

    @Test func aTimeOnTheAbandonedTimelineAfterTheSwitchFollowsTimelineOne() throws {
        let (a, backups, _, _) = branched()
        // Timeline 1, segment 7: after the switchpoint in LSN, before timeline 2 was born.
        let target = a.time(segment: 7, k: 4).adding(microseconds: 1)
        let p = try plan(a.plan(PlanRequest(target: .time(target)), backups: backups).0)
        #expect(p.targetTimeline == TimelineID(1))
        #expect(p.segments.allSatisfy { $0.timeline == TimelineID(1) })
        #expect(p.lastCompletion?.lsn == a.lsn(segment: 7, k: 4))
        #expect(p.histories.isEmpty)
    }

    @Test func aTimeOnTimelineTwoFollowsTheSwitch() throws {
        let (a, backups, switchpoint, _) = branched()
        let target = a.time(segment: 7, k: 2, base: 10_000).adding(microseconds: 3)
        let p = try plan(a.plan(PlanRequest(target: .time(target)), backups: backups).0)
        #expect(p.targetTimeline == TimelineID(2))
        #expect(p.path == [TimelineRange(timeline: TimelineID(1), begin: .zero, end: switchpoint),
                           TimelineRange(timeline: TimelineID(2), begin: switchpoint, end: nil)])
        #expect(p.segments.map(\.description) == ["000000010000000000000003", "000000010000000000000004",
                                                  "000000020000000000000005", "000000020000000000000006",
                                                  "000000020000000000000007"])
        #expect(p.histories == [TimelineID(2)])
        #expect(p.lastCompletion?.lsn == a.lsn(segment: 7, k: 2))
        // Pinning timeline 1 for the same instant runs off the end of timeline 1's commits.
        let pinned = try #require(unreachable(a.plan(PlanRequest(target: .time(target), timeline: .id(TimelineID(1))), backups: backups).0))
        #expect(pinned.reason == .afterLastCommit)
        #expect(unreachable(a.plan(PlanRequest(target: .time(target), timeline: .id(TimelineID(3))), backups: backups).0)?.reason == .timelineNotFound)
    }

    @Test func latestFollowsTheNewestTimeline() throws {
        let (a, backups, _, _) = branched()
        let p = try plan(a.plan(PlanRequest(target: .latest), backups: backups).0)
        #expect(p.targetTimeline == TimelineID(2))
        #expect(p.segments.last?.description == "000000020000000000000008")
    }

    /// A test copy promoted on timeline 2 stopped committing while production went on along
    /// timeline 1: `--latest` alone no longer silently follows the copy.
    @Test func latestRefusesWhenAnotherTimelineHasNewerCommits() throws {
        let (a, backups, switchpoint, _) = branched(later: 50)
        let u = try #require(unreachable(a.plan(PlanRequest(target: .latest), backups: backups).0))
        #expect(u.reason == .timelineAmbiguous)
        #expect(u.message.contains("timeline 1 has commits until \(a.time(segment: 9, k: 9).postgresText)"), "\(u.message)")
        #expect(u.message.contains("after timeline 2 branched from it at \(switchpoint)"), "\(u.message)")
        #expect(u.alternatives.contains { $0.hasPrefix("--target-timeline 1") } && u.alternatives.contains { $0.hasPrefix("--target-timeline 2") })
        // Either choice, made explicitly, plans; following timeline 2 says what it leaves out.
        let one = try plan(a.plan(PlanRequest(target: .latest, timeline: .id(TimelineID(1))), backups: backups).0)
        #expect(one.targetTimeline == TimelineID(1) && one.lastCompletion?.time == a.time(segment: 9, k: 9))
        for choice in [TimelineChoice.id(TimelineID(2)), .latest] {
            let two = try plan(a.plan(PlanRequest(target: .latest, timeline: choice), backups: backups).0)
            #expect(two.targetTimeline == TimelineID(2))
            #expect(two.notes.contains { $0.contains("timeline 1 has commits until") }, "\(two.notes)")
        }
        // A time target on timeline 2 is planned, with the note.
        let t = a.time(segment: 7, k: 2, base: 50).adding(microseconds: 3)
        let timed = try plan(a.plan(PlanRequest(target: .time(t), timeline: .id(TimelineID(2))), backups: backups).0)
        #expect(timed.notes.contains { $0.contains("timeline 1 has commits until") }, "\(timed.notes)")
        // Without newer commits elsewhere there is nothing to say.
        let (quiet, quietBackups, _, _) = branched()
        let p = try plan(quiet.plan(PlanRequest(target: .latest), backups: quietBackups).0)
        #expect(!p.notes.contains { $0.contains("has commits until") }, "\(p.notes)")
    }

    /// `info`'s restorable windows: per timeline, from the oldest backup that reaches its last
    /// commit without a gap to that commit.
    @Test func restorableWindowsPerTimeline() throws {
        var (a, _, _, _) = branched()
        let backups = [a.backup("B1", start: 3, stop: 3), a.backup("B2", start: 4, stop: 4)]
        func windows(_ archive: Archive) -> [RestorableWindow] {
            var inventory = archive.inventory()
            var result: [RestorableWindow] = []
            for tl in inventory.graph.timelines {
                candidates: for b in RecoveryPlanner(backups: backups, inventory: inventory).windowCandidates(for: tl) {
                    while true {
                        switch RecoveryPlanner(backups: backups, inventory: inventory).window(for: tl, using: b) {
                        case .window(let w): result.append(w); break candidates
                        case .needsDetail(let names): for n in names { inventory.details[n] = archive.events[n] ?? [] }
                        case .none: continue candidates
                        }
                    }
                }
            }
            return result
        }
        let both = windows(a)
        #expect(both.map(\.timeline) == [TimelineID(1), TimelineID(2)])
        #expect(both.allSatisfy { $0.backup == "B1" && $0.from == backups[0].stopTime })
        #expect(both[0].until == a.time(segment: 9, k: 9))
        #expect(both[1].until == a.time(segment: 8, k: 9, base: 10_000))
        // A gap in B1's own WAL: the window starts at the first backup after the gap.
        a.segments[TimelineID(1)]?.remove(3)
        let gapped = windows(a)
        #expect(gapped.first?.backup == "B2" && gapped.first?.from == backups[1].stopTime, "\(gapped)")
    }

    @Test func aBackupOnAnAbandonedBranchCannotReachTheOtherBranch() throws {
        let (a, _, switchpoint, _) = branched()
        // A backup taken on timeline 1 after the switchpoint is not on timeline 2's history.
        let late = a.backup("B9", start: 7, stop: 7)
        _ = switchpoint
        let p = try plan(a.plan(PlanRequest(target: .latest, timeline: .id(TimelineID(2))), backups: [late, a.backup("B1", start: 3, stop: 3)]).0)
        #expect(p.backup.id == "B1")
        let u = try #require(unreachable(a.plan(PlanRequest(target: .latest, timeline: .id(TimelineID(2))), backups: [late]).0))
        #expect(u.reason == .timelineDoesNotLead)
    }
}

@Suite("Timeline history", .tags(.small))
struct TimelineHistoryTests {
    @Test func parsesWhatPostgreSQLWrites() throws {
        let text = "1\t0/6000170\tbefore 2026-11-26 14:00:49.921292+00\n\n2\t0/9000000\tno recovery target specified\n"
        let h = try TimelineHistory(timeline: TimelineID(3), parsing: Array(text.utf8))
        #expect(h.switches.count == 2)
        #expect(h.switches[0] == TimelineSwitch(parent: TimelineID(1), switchpoint: LSN("0/6000170")!, reason: "before 2026-11-26 14:00:49.921292+00"))
        #expect(h.path.map(\.timeline) == [TimelineID(1), TimelineID(2), TimelineID(3)])
        #expect(h.path[1].begin == LSN("0/6000170"))
        #expect(h.path[1].end == LSN("0/9000000"))
        #expect(h.path[2].end == nil)
    }

    @Test(arguments: ["1\tnot-an-lsn\tx\n", "2\t0/1\tx\n1\t0/2\tx\n", "5\t0/1\tx\n", "", "garbage\n"])
    func rejectsBadFiles(_ text: String) {
        #expect(throws: TimelineHistory.ParseError.self) { try TimelineHistory(timeline: TimelineID(3), parsing: Array(text.utf8)) }
    }

    @Test func newestStopsAtTheFirstMissingHistory() throws {
        func h(_ t: UInt32) -> TimelineHistory {
            TimelineHistory(timeline: TimelineID(t), switches: [TimelineSwitch(parent: TimelineID(1), switchpoint: LSN(UInt64(t) << 24), reason: "")])
        }
        #expect(TimelineGraph(histories: []).newest() == TimelineID(1))
        #expect(TimelineGraph(histories: [h(2), h(3)]).newest() == TimelineID(3))
        #expect(TimelineGraph(histories: [h(2), h(4)]).newest() == TimelineID(2))
    }
}

@Suite("PostgreSQL timestamps", .tags(.small))
struct PostgresTimestampTests {
    @Test(arguments: [
        ("2026-11-26 14:30:00+00", Int64(1_795_703_400_000_000)),
        ("2026-11-26T14:30:00Z", 1_795_703_400_000_000),
        ("2026-11-26 14:30:00 UTC", 1_795_703_400_000_000),
        ("2026-11-26 15:30:00+01", 1_795_703_400_000_000),
        ("2026-11-26 09:30:00-05:00", 1_795_703_400_000_000),
        ("2026-11-26 20:00:00+0530", 1_795_703_400_000_000),
        ("2026-11-26 14:30:00.123456+00", 1_795_703_400_123_456),
        ("2026-11-26 14:30:00.5Z", 1_795_703_400_500_000),
        ("2000-01-01 00:00:00+00", 946_684_800_000_000),
        ("2024-02-29 00:00:00+00", 1_709_164_800_000_000),
    ])
    func parses(_ text: String, _ unixMicros: Int64) throws {
        #expect(try PostgresTimestamp(parsing: text).unixMicroseconds == unixMicros)
    }

    @Test(arguments: ["2026-11-26 14:30:00", "2026-11-26", "2026-11-26 14:30:00 CET", "2026-13-01 00:00:00Z",
                      "2026-02-30 00:00:00Z", "2026-11-26 25:00:00Z", "yesterday", "2026-11-26 14:30:00+00 extra"])
    func rejects(_ text: String) {
        #expect(throws: PostgresTimestamp.ParseError.self) { try PostgresTimestamp(parsing: text) }
    }

    @Test func aTimeWithoutAZoneSaysSo() {
        #expect {
            try PostgresTimestamp(parsing: "2026-11-26 14:30:00")
        } throws: { error in
            "\(error)".contains("no time zone")
        }
    }

    @Test func formatsForRecoveryTargetTimeAndRoundTrips() throws {
        let t = try PostgresTimestamp(parsing: "2026-11-26 14:30:00.1234+00")
        #expect(t.postgresText == "2026-11-26 14:30:00.1234+00")
        #expect(t.iso8601 == "2026-11-26T14:30:00.1234Z")
        #expect(PostgresTimestamp(rawValue: 0).postgresText == "2000-01-01 00:00:00+00")
        #expect(PostgresTimestamp(rawValue: -1).postgresText == "1999-12-31 23:59:59.999999+00")
        var g = SplitMix(seed: 7)
        for _ in 0..<2000 {
            let v = PostgresTimestamp(rawValue: Int64(bitPattern: g.next()) % 4_000_000_000_000_000)
            #expect(try PostgresTimestamp(parsing: v.postgresText) == v)
        }
    }
}

private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Recovery planner: damaged history files", .tags(.small))
struct DamagedHistoryPlannerTests {
    @Test func anUnrelatedDamagedHistoryIsANoteNotAFailure() throws {
        var (a, backups) = linear()
        a.damaged[TimelineID(3)] = "line 1: junk"
        for choice in [TimelineChoice.automatic, .latest, .id(TimelineID(1))] {
            let p = try plan(a.plan(PlanRequest(target: .latest, timeline: choice), backups: backups).0)
            #expect(p.targetTimeline == TimelineID(1))
            #expect(p.notes.contains { $0.contains("00000003.history") && $0.contains("junk") }, "\(p.notes)")
        }
    }

    @Test func aDamagedHistoryOnTheTargetsPathFails() throws {
        var (a, backups, _, _) = RecoveryPlannerTests().branched()
        a.damaged[TimelineID(2)] = "line 1: junk"
        a.histories = []
        // Timeline 2 holds WAL: the planner cannot place it, so choosing for the DBA is refused.
        let u = try #require(unreachable(a.plan(PlanRequest(target: .latest), backups: backups).0))
        #expect(u.reason == .historyDamaged)
        #expect(u.missing == "00000002.history")
        #expect(u.alternatives.contains { $0.contains("--target-timeline 1") })
        let asked = try #require(unreachable(a.plan(PlanRequest(target: .latest, timeline: .id(TimelineID(2))), backups: backups).0))
        #expect(asked.reason == .historyDamaged)
        // Asked for timeline 1 explicitly: timeline 2's file is not read.
        let p = try plan(a.plan(PlanRequest(target: .latest, timeline: .id(TimelineID(1))), backups: backups).0)
        #expect(p.targetTimeline == TimelineID(1))
        #expect(p.notes.contains { $0.contains("00000002.history") })
    }

    @Test func newestSkipsADamagedFileButKeepsProbing() {
        let h3 = TimelineHistory(timeline: TimelineID(3), switches: [TimelineSwitch(parent: TimelineID(1), switchpoint: LSN(1 << 24), reason: "")])
        let graph = TimelineGraph(histories: [h3], damaged: [TimelineID(2): "junk"])
        #expect(graph.newest() == TimelineID(3))
        #expect(TimelineGraph(histories: [], damaged: [TimelineID(2): "junk"]).newest() == TimelineID(1))
    }
}
