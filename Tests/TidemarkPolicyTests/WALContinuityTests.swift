import Foundation
import Testing
import TidemarkCore
@testable import TidemarkPolicy

/// Worked examples of WAL continuity (issue 13, items 3 and 4). Segment `n` has its last
/// completion at `t(n) + 30 s`; a backup stopping in segment `n` is consistent at `t(n) + 10 s`,
/// so a span is `[t(stop) + 10, t(last) + 30]`. The property tests cover generated archives.
@Suite("WAL continuity")
struct WALContinuityTests {
    static let size = WALSegmentSize.default
    static let tl1 = TimelineID(1), tl2 = TimelineID(2)
    /// 2026-11-01T00:00:00Z
    static let base: Int64 = 1_793_491_200

    static func t(_ segment: SegmentNumber, _ seconds: Int64) -> PostgresTimestamp {
        PostgresTimestamp(unixSeconds: base + Int64(segment) * 60 + seconds)
    }
    static func lsn(_ segment: SegmentNumber, _ offset: UInt64 = 0x100) -> LSN { LSN(segment * size.rawValue + offset) }
    static func name(_ tl: TimelineID, _ s: SegmentNumber) -> WALSegmentName { WALSegmentName(timeline: tl, segment: s, size: size) }

    static func backup(_ id: String, _ tl: TimelineID, _ start: SegmentNumber, _ stop: SegmentNumber,
                       stopTimeline: TimelineID? = nil) -> ContinuityBackup {
        ContinuityBackup(id: id, timeline: tl, startLSN: lsn(start), stopLSN: lsn(stop, 0x200), stopTimeline: stopTimeline ?? tl,
                         stopTime: t(stop, 10))
    }

    /// Timeline 2 branched from 1 in the middle of segment `segment`.
    static func history2(at segment: SegmentNumber) -> TimelineHistory {
        TimelineHistory(timeline: tl2, switches: [TimelineSwitch(parent: tl1, switchpoint: lsn(segment, 0x8000), reason: "promoted")])
    }

    static func input(_ segments: [TimelineID: [SegmentNumber]], histories: [TimelineHistory] = [],
                      backups: [ContinuityBackup]) -> ContinuityInput {
        var completions: [WALSegmentName: PostgresTimestamp] = [:]
        for (tl, numbers) in segments { for s in numbers { completions[name(tl, s)] = t(s, 30) } }
        return ContinuityInput(segmentSize: size, segments: segments.mapValues(Set.init), histories: histories,
                               backups: backups, lastCompletion: completions)
    }

    static func span(_ tl: TimelineID, _ stop: SegmentNumber, _ last: SegmentNumber, _ id: String) -> RestorableSpan {
        RestorableSpan(timeline: tl, from: t(stop, 10), to: t(last, 30), backup: id)
    }

    static func range(_ r: ClosedRange<SegmentNumber>, without missing: ClosedRange<SegmentNumber>) -> [SegmentNumber] {
        r.filter { !missing.contains($0) }
    }

    @Test func aCompleteArchiveHasNoGapAndOneWindow() {
        let report = WALContinuity.analyze(Self.input([Self.tl1: Array(0...9)], backups: [Self.backup("b", Self.tl1, 2, 3)]))
        #expect(report.gaps.isEmpty)
        #expect(report.missingHistories.isEmpty)
        #expect(report.windows == [Self.span(Self.tl1, 3, 9, "b")])
    }

    /// The oldest backup's start defines where the timeline must begin: segments the archive
    /// never had before it are a gap at the start.
    @Test func aGapAtTheStartBreaksTheOldestBackup() {
        let report = WALContinuity.analyze(Self.input([Self.tl1: Array(4...19)],
                                                      backups: [Self.backup("b", Self.tl1, 2, 3), Self.backup("c", Self.tl1, 7, 8)]))
        #expect(report.gaps == [WALGap(timeline: Self.tl1, from: Self.name(Self.tl1, 2), to: Self.name(Self.tl1, 3), segments: 2,
                                       breaks: ["b"], window: LostWindow(from: nil, to: Self.t(8, 10)))])
        #expect(report.windows == [Self.span(Self.tl1, 8, 19, "c")])
    }

    /// Two backups with a gap between them: two windows, and the gap loses exactly what lies between.
    @Test func aGapInTheMiddleSplitsTheWindow() {
        let report = WALContinuity.analyze(Self.input([Self.tl1: Self.range(0...19, without: 7...9)],
                                                      backups: [Self.backup("b", Self.tl1, 2, 3), Self.backup("c", Self.tl1, 12, 13)]))
        #expect(report.gaps == [WALGap(timeline: Self.tl1, from: Self.name(Self.tl1, 7), to: Self.name(Self.tl1, 9), segments: 3,
                                       breaks: [], window: LostWindow(from: Self.t(6, 30), to: Self.t(13, 10)))])
        #expect(report.windows == [Self.span(Self.tl1, 3, 6, "b"), Self.span(Self.tl1, 13, 19, "c")])
        #expect(report.gaps.first?.window == LostWindow(from: report.windows.first?.to, to: report.windows.last?.from))
    }

    /// Nothing after the gap is restorable: the lost window runs to the end of the archive.
    @Test func aGapNearTheEndLosesEverythingAfterIt() {
        let report = WALContinuity.analyze(Self.input([Self.tl1: Self.range(0...15, without: 10...14)],
                                                      backups: [Self.backup("b", Self.tl1, 2, 3)]))
        #expect(report.gaps == [WALGap(timeline: Self.tl1, from: Self.name(Self.tl1, 10), to: Self.name(Self.tl1, 14), segments: 5,
                                       breaks: [], window: LostWindow(from: Self.t(9, 30), to: nil))])
        #expect(report.windows == [Self.span(Self.tl1, 3, 9, "b")])
    }

    @Test func aGapInsideABackupsOwnWALBreaksIt() {
        let report = WALContinuity.analyze(Self.input([Self.tl1: Self.range(0...12, without: 4...4)],
                                                      backups: [Self.backup("b", Self.tl1, 2, 5), Self.backup("c", Self.tl1, 8, 9)]))
        #expect(report.gaps == [WALGap(timeline: Self.tl1, from: Self.name(Self.tl1, 4), to: Self.name(Self.tl1, 4), segments: 1,
                                       breaks: ["b"], window: LostWindow(from: nil, to: Self.t(9, 10)))])
        #expect(report.windows == [Self.span(Self.tl1, 9, 12, "c")])
    }

    /// Spans of one timeline that overlap merge under the backup of the earliest start.
    @Test func overlappingWindowsMerge() {
        let report = WALContinuity.analyze(Self.input([Self.tl1: Array(0...19)],
                                                      backups: [Self.backup("c", Self.tl1, 5, 6), Self.backup("b", Self.tl1, 2, 3)]))
        #expect(report.windows == [Self.span(Self.tl1, 3, 19, "b")])
        let spans = ContinuityArchive(Self.input([Self.tl1: Array(0...19)],
                                                 backups: [Self.backup("c", Self.tl1, 5, 6), Self.backup("b", Self.tl1, 2, 3)])).spans(on: [Self.tl1])
        #expect(spans.count == 2)
    }

    /// A span that ends before it starts (no completion after the consistency point) is no window.
    @Test func aSpanWithoutACompletionAfterItsStopIsDropped() {
        var input = Self.input([Self.tl1: Array(0...5)], backups: [Self.backup("b", Self.tl1, 2, 5)])
        input.lastCompletion[Self.name(Self.tl1, 5)] = Self.t(5, 5)
        #expect(WALContinuity.analyze(input).windows.isEmpty)
    }
}

/// Timeline switches and missing history files.
@Suite("WAL continuity across timelines")
struct WALContinuityTimelineTests {
    typealias W = WALContinuityTests
    static let tl1 = W.tl1, tl2 = W.tl2

    @Test func aPromotionGivesAWindowOnEachTimeline() {
        let report = WALContinuity.analyze(W.input([Self.tl1: Array(0...9), Self.tl2: Array(10...20)], histories: [W.history2(at: 10)],
                                                   backups: [W.backup("b", Self.tl1, 2, 3)]))
        #expect(report.gaps.isEmpty)
        #expect(report.windows == [W.span(Self.tl1, 3, 9, "b"), W.span(Self.tl2, 3, 20, "b")])
    }

    /// Timeline 2 reads timeline 1 before the switch: a gap there cuts both windows.
    @Test func aGapOnTheParentBeforeTheSwitchCutsTheChildsWindow() {
        let report = WALContinuity.analyze(W.input([Self.tl1: W.range(0...9, without: 6...6), Self.tl2: Array(10...20)],
                                                   histories: [W.history2(at: 10)],
                                                   backups: [W.backup("b", Self.tl1, 2, 3), W.backup("c", Self.tl2, 14, 15)]))
        #expect(report.gaps == [WALGap(timeline: Self.tl1, from: W.name(Self.tl1, 6), to: W.name(Self.tl1, 6), segments: 1,
                                       breaks: [], window: LostWindow(from: W.t(5, 30), to: nil))])
        #expect(report.windows == [W.span(Self.tl1, 3, 5, "b"), W.span(Self.tl2, 3, 5, "b"), W.span(Self.tl2, 15, 20, "c")])
    }

    /// The segment holding the switch point is read from the new timeline, even when the old
    /// one archived a file of the same number (its primary lived on for a while).
    @Test func aGapAtTheSwitchSegmentOnTheChild() {
        let report = WALContinuity.analyze(W.input([Self.tl1: Array(0...12), Self.tl2: Array(11...20)], histories: [W.history2(at: 10)],
                                                   backups: [W.backup("b", Self.tl1, 2, 3), W.backup("c", Self.tl2, 14, 15)]))
        #expect(report.gaps == [WALGap(timeline: Self.tl2, from: W.name(Self.tl2, 10), to: W.name(Self.tl2, 10), segments: 1,
                                       breaks: [], window: LostWindow(from: W.t(9, 30), to: W.t(15, 10)))])
        #expect(report.windows == [W.span(Self.tl1, 3, 12, "b"), W.span(Self.tl2, 3, 9, "b"), W.span(Self.tl2, 15, 20, "c")])
    }

    /// The last segments of the old timeline were never archived (the primary died): the
    /// child's history still needs them, so they are a gap although the parent's archive ends before.
    @Test func theParentsUnarchivedTailBeforeTheSwitchIsAGap() {
        let report = WALContinuity.analyze(W.input([Self.tl1: Array(0...7), Self.tl2: Array(10...20)], histories: [W.history2(at: 10)],
                                                   backups: [W.backup("b", Self.tl1, 2, 3)]))
        #expect(report.gaps == [WALGap(timeline: Self.tl1, from: W.name(Self.tl1, 8), to: W.name(Self.tl1, 9), segments: 2,
                                       breaks: [], window: LostWindow(from: W.t(7, 30), to: nil))])
        #expect(report.windows == [W.span(Self.tl1, 3, 7, "b"), W.span(Self.tl2, 3, 7, "b")])
    }

    /// Timeline 2 lost every segment, but timeline 3 branched from it: its stretch on 3's
    /// path is a gap, and what it loses is measured along 2's own path.
    @Test func aTimelineWithoutSegmentsOnALaterTimelinesPathIsAGap() {
        let tl3 = TimelineID(3)
        let history3 = TimelineHistory(timeline: tl3, switches: W.history2(at: 10).switches
                                       + [TimelineSwitch(parent: Self.tl2, switchpoint: W.lsn(15, 0x10), reason: "promoted")])
        let report = WALContinuity.analyze(W.input([Self.tl1: Array(0...9), tl3: Array(15...20)],
                                                   histories: [W.history2(at: 10), history3], backups: [W.backup("b", Self.tl1, 2, 3)]))
        #expect(report.missingHistories.isEmpty)
        #expect(report.gaps == [WALGap(timeline: Self.tl2, from: W.name(Self.tl2, 10), to: W.name(Self.tl2, 14), segments: 5,
                                       breaks: [], window: LostWindow(from: W.t(9, 30), to: nil))])
        #expect(report.windows == [W.span(Self.tl1, 3, 9, "b"), W.span(tl3, 3, 9, "b")])
    }

    /// Timeline 3's history names 2, whose own file is gone: it is missing although the
    /// archive holds nothing else of timeline 2.
    @Test func anAncestorsMissingHistoryIsReported() {
        let tl3 = TimelineID(3)
        let history3 = TimelineHistory(timeline: tl3, switches: W.history2(at: 10).switches
                                       + [TimelineSwitch(parent: Self.tl2, switchpoint: W.lsn(15, 0x10), reason: "promoted")])
        let report = WALContinuity.analyze(W.input([Self.tl1: Array(0...14), tl3: Array(15...20)], histories: [history3],
                                                   backups: [W.backup("b", Self.tl1, 2, 3)]))
        #expect(report.missingHistories == [Self.tl2])
    }

    /// A standby promoted during its own backup: it starts on 1 and stops on 2; a gap on 1
    /// inside its WAL breaks it.
    @Test func aBackupThatStopsOnTheChildIsBrokenByAGapOnTheParent() {
        let x = W.backup("x", Self.tl1, 8, 11, stopTimeline: Self.tl2)
        let clean = WALContinuity.analyze(W.input([Self.tl1: Array(0...9), Self.tl2: Array(10...20)], histories: [W.history2(at: 10)],
                                                  backups: [x]))
        #expect(clean.gaps.isEmpty)
        #expect(clean.windows == [W.span(Self.tl2, 11, 20, "x")])
        let broken = WALContinuity.analyze(W.input([Self.tl1: W.range(0...9, without: 9...9), Self.tl2: Array(10...20)],
                                                   histories: [W.history2(at: 10)], backups: [x]))
        #expect(broken.gaps.map(\.breaks) == [["x"]])
        #expect(broken.gaps.map(\.from) == [W.name(Self.tl1, 9)])
        #expect(broken.windows.isEmpty)
    }

    /// After retention, a timeline's WAL before its oldest backup is gone: that is no gap.
    @Test func walBeforeEveryBackupOfAChildIsNotChecked() {
        let report = WALContinuity.analyze(W.input([Self.tl1: Array(0...9), Self.tl2: Array(30...40)], histories: [W.history2(at: 10)],
                                                   backups: [W.backup("c", Self.tl2, 32, 33)]))
        #expect(report.gaps.isEmpty)
        #expect(report.windows == [W.span(Self.tl2, 33, 40, "c")])
    }

    /// Timeline 2 without its `.history`: it is named, it has no known ancestor (a backup of
    /// timeline 1 reaches nothing on it), and its own gaps are still found.
    @Test func aMissingHistoryIsReportedAndTheTimelineStandsAlone() {
        let report = WALContinuity.analyze(W.input([Self.tl1: Array(0...9), Self.tl2: W.range(10...20, without: 16...16)],
                                                   backups: [W.backup("b", Self.tl1, 2, 3), W.backup("c", Self.tl2, 12, 13)]))
        #expect(report.missingHistories == [Self.tl2])
        #expect(report.gaps == [WALGap(timeline: Self.tl2, from: W.name(Self.tl2, 16), to: W.name(Self.tl2, 16), segments: 1,
                                       breaks: [], window: LostWindow(from: W.t(15, 30), to: nil))])
        #expect(report.windows == [W.span(Self.tl1, 3, 9, "b"), W.span(Self.tl2, 13, 15, "c")])
    }

    /// Without a history, a backup on the timeline that starts before its oldest segment makes a gap at the start.
    @Test func aMissingHistoryWithABackupBeforeTheOldestSegment() {
        let report = WALContinuity.analyze(W.input([Self.tl2: Array(10...20)], backups: [W.backup("c", Self.tl2, 8, 9)]))
        #expect(report.missingHistories == [Self.tl2])
        #expect(report.gaps == [WALGap(timeline: Self.tl2, from: W.name(Self.tl2, 8), to: W.name(Self.tl2, 9), segments: 2,
                                       breaks: ["c"], window: nil)])
        #expect(report.windows.isEmpty)
    }

    @Test func aGapTravelsAsJSONWithFileNames() throws {
        let gap = WALGap(timeline: Self.tl2, from: W.name(Self.tl2, 8), to: W.name(Self.tl2, 9), segments: 2, breaks: ["c"],
                         window: LostWindow(from: W.t(7, 30), to: nil))
        let data = try JSONEncoder().encode(gap)
        #expect(String(decoding: data, as: UTF8.self).contains("\"from\":\"000000020000000000000008\""))
        #expect(try JSONDecoder().decode(WALGap.self, from: data) == gap)
    }
}
