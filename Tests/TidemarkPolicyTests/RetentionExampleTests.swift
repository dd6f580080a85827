import Testing
import TidemarkCore
@testable import TidemarkPolicy

/// Worked examples of docs/retention.md; the property tests cover generated histories.
@Suite("Retention examples")
struct RetentionExampleTests {
    static let size = WALSegmentSize(rawValue: 16 << 20)!
    static let day: Int64 = 86_400
    /// 2026-11-01T00:00:00Z
    static let t0: Int64 = 1_793_491_200

    /// One backup per day at 03:00 for `days` days (a full every 7th), each covering two
    /// segments, with continuous WAL on timeline 1 and a commit in every segment.
    static func daily(_ days: Int) -> RetentionInput {
        var backups: [RetentionBackup] = []
        var lastFull: String?
        var previous: String?
        for d in 0..<days {
            let full = d % 7 == 0
            let id = "b\(d)"
            let start = LSN(rawValue: UInt64(d * 10) * size.rawValue)
            backups.append(RetentionBackup(id: id, type: full ? .full : .incremental, parent: full ? nil : previous,
                                           endTime: t0 + Int64(d) * day + 3 * 3600, timeline: TimelineID(1), stopTimeline: TimelineID(1),
                                           startLSN: start, stopLSN: LSN(rawValue: start.rawValue + size.rawValue + 100), storedBytes: 1000))
            if full { lastFull = id }
            previous = id
        }
        _ = lastFull
        var segments: [SegmentNumber: Int64] = [:]
        for s in 0..<SegmentNumber(days * 10) { segments[s] = 10 }
        return RetentionInput(backups: backups, segments: [TimelineID(1): segments], graph: TimelineGraph(histories: []),
                              segmentSize: size, lastCommit: [TimelineID(1): t0 + Int64(days) * day],
                              now: t0 + Int64(days) * day)
    }

    @Test func dailyTierKeepsTheNewestDaysAndTheirParents() {
        let policy = RetentionPolicy(daily: 3, weekly: 0, monthly: 0, yearly: 0, pitrDays: 0, minFullChains: 0)
        let plan = Retention.evaluate(policy, Self.daily(30))
        let kept = plan.decisions.filter(\.keep).map(\.id)
        // b29, b28, b27 are the three newest days; their chain goes back to the full b21.
        #expect(kept == ["b21", "b22", "b23", "b24", "b25", "b26", "b27", "b28", "b29"])
        #expect(plan.decisions.first { $0.id == "b27" }?.reasons.contains("daily 2026-11-28") == true)
        #expect(plan.decisions.first { $0.id == "b21" }?.reasons.contains("parent of b22") == true)
        #expect(plan.hold == nil)
        // No PITR window: each kept backup keeps only the WAL that makes it consistent (its two
        // segments), and the newest keeps everything after it ("latest" stays restorable).
        let expected = stride(from: 210, to: 290, by: 10).map {
            SegmentRange(timeline: TimelineID(1), first: SegmentNumber($0), last: SegmentNumber($0 + 1), segments: 2, bytes: 20)
        } + [SegmentRange(timeline: TimelineID(1), first: 290, last: 299, segments: 10, bytes: 100)]
        #expect(plan.keptWAL == expected)
        #expect(plan.deletedWAL.first == SegmentRange(timeline: TimelineID(1), first: 0, last: 209, segments: 210, bytes: 2100))
        #expect(plan.bytesFreed == 21 * 1000 + 10 * (300 - 26))
    }

    @Test func failingBackupsHoldEverything() {
        var input = Self.daily(30)
        input.now += 3 * Self.day
        let plan = Retention.evaluate(RetentionPolicy(daily: 1, weekly: 0, monthly: 0, pitrDays: 0, minFullChains: 0), input)
        #expect(plan.hold != nil)
        #expect(plan.decisions.allSatisfy { $0.keep })
        #expect(plan.deletedWAL.isEmpty)
    }

    @Test func pinnedBackupsStay() {
        var input = Self.daily(30)
        input.backups[3].pin = "legal hold 2026-17"
        let plan = Retention.evaluate(RetentionPolicy(daily: 1, weekly: 0, monthly: 0, pitrDays: 0, minFullChains: 0), input)
        let b3 = plan.decisions.first { $0.id == "b3" }
        #expect(b3?.keep == true && b3?.reasons.contains("pinned: legal hold 2026-17") == true)
        #expect(plan.decisions.first { $0.id == "b0" }?.reasons == ["parent of b1"])
        // Only the consistency range of the old keepers is kept, not the WAL between them.
        #expect(plan.keptWAL.contains { $0.first == 30 && $0.last == 31 })
        #expect(!plan.keptWAL.contains { $0.first <= 40 && $0.last >= 40 && $0.last < 280 })
    }

    /// A damaged catalog naming a parent cycle must not hang expire: it finishes, keeping the cycle.
    @Test(.timeLimit(.minutes(1))) func aParentCycleEnds() {
        var input = Self.daily(3)
        input.backups[0] = RetentionBackup(id: "b0", type: .incremental, parent: "b2", endTime: input.backups[0].endTime,
                                           timeline: TimelineID(1), stopTimeline: TimelineID(1), startLSN: input.backups[0].startLSN,
                                           stopLSN: input.backups[0].stopLSN)
        input.backups[2].type = .full
        input.backups[2].parent = "b1"
        let plan = Retention.evaluate(RetentionPolicy(daily: 1, weekly: 0, monthly: 0, pitrDays: 0, minFullChains: 1), input)
        #expect(plan.decisions.filter { $0.keep }.map(\.id).sorted() == ["b0", "b1", "b2"])
    }
}
