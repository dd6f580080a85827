import Testing
import TidemarkCore
@testable import TidemarkPolicy

/// A backup of a standby that followed a promotion while it ran starts on the parent timeline
/// and stops on the child: its files hold the child's changes. It serves the child's paths and
/// never a later branch of the parent (found by the property tests, seed 1544).
@Suite("Retention: backups that stop on another timeline")
struct RetentionStandbyBackupTests {
    static let mib: UInt64 = 1 << 20
    static let day: Int64 = 86_400
    static let t0: Int64 = 1_793_491_200

    /// Timeline 1 runs on (segments 0–30); timeline 2 branched at 10.5 MiB, during backup `x`;
    /// timeline 3 branched from 1 at 25.5 MiB, long after `x`, and is the live one.
    static func input() -> RetentionInput {
        func backup(_ id: String, _ tl: UInt32, _ stopTL: UInt32, _ start: UInt64, _ stop: UInt64, _ end: Int64) -> RetentionBackup {
            RetentionBackup(id: id, type: .full, parent: nil, endTime: end, timeline: TimelineID(tl), stopTimeline: TimelineID(stopTL),
                            startLSN: LSN(start * mib), stopLSN: LSN(stop * mib), storedBytes: 100)
        }
        let backups = [backup("b", 1, 1, 2, 3, t0), backup("x", 1, 2, 8, 11, t0 + day), backup("c", 3, 3, 27, 28, t0 + 19 * day + day / 2)]
        let histories = [
            TimelineHistory(timeline: TimelineID(2), switches: [TimelineSwitch(parent: TimelineID(1), switchpoint: LSN(10 * mib + mib / 2), reason: "")]),
            TimelineHistory(timeline: TimelineID(3), switches: [TimelineSwitch(parent: TimelineID(1), switchpoint: LSN(25 * mib + mib / 2), reason: "")]),
        ]
        func segments(_ r: ClosedRange<SegmentNumber>) -> [SegmentNumber: Int64] { Dictionary(uniqueKeysWithValues: r.map { ($0, 1) }) }
        return RetentionInput(backups: backups, segments: [TimelineID(1): segments(0...30), TimelineID(2): segments(10...14), TimelineID(3): segments(25...30)],
                              graph: TimelineGraph(histories: histories), segmentSize: WALSegmentSize(rawValue: mib)!,
                              lastCommit: [TimelineID(1): t0 + 5 * day, TimelineID(2): t0 + 6 * day, TimelineID(3): t0 + 20 * day],
                              now: t0 + 20 * day)
    }

    @Test func itIsOnTheChildsPathOnly() throws {
        let input = Self.input()
        let x = try #require(input.backups.first { $0.id == "x" })
        let two = try #require(input.graph.history(of: TimelineID(2))?.path)
        let three = try #require(input.graph.history(of: TimelineID(3))?.path)
        #expect(RetentionWAL.onPath(x, two))
        #expect(!RetentionWAL.onPath(x, three))
        #expect(!RetentionWAL.onPath(x, [TimelineRange(timeline: TimelineID(1), begin: .zero, end: nil)]))
    }

    /// The window (day 19 to 20) on timeline 3 starts before `c` ends: only `b`, through
    /// timeline 1's WAL to the branch point, reaches it.
    @Test func theLaterBranchKeepsItsRealAnchor() {
        let plan = Retention.evaluate(RetentionPolicy(daily: 0, weekly: 0, monthly: 0, yearly: 0, pitrDays: 1, minFullChains: 0), Self.input())
        #expect(plan.hold == nil)
        #expect(plan.decisions.first { $0.id == "b" }?.reasons == ["pitr window"])
        #expect(plan.decisions.first { $0.id == "x" }?.keep == false)
        #expect(plan.keptWAL.contains { $0.timeline == TimelineID(1) && $0.first <= 2 && $0.last >= 25 })
        #expect(plan.windowsAfter.first { $0.timeline == TimelineID(3) }?.backup == "b")
    }
}
