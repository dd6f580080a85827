import Testing
import TidemarkCore
@testable import TidemarkPolicy

/// `WALContinuity` against the brute-force `ContinuityReference` over generated archives
/// (WALContinuityGenerator). A failure names its seed; reproduce it with `GeneratedArchive(seed:)`.
@Suite("WAL continuity properties")
struct WALContinuityPropertyTests {
    static let seeds: [UInt64] = Array(1...400)

    /// Everything one archive's report must satisfy; empty when it does.
    static func problems(_ input: ContinuityInput) -> [String] {
        let report = WALContinuity.analyze(input)
        let ref = ContinuityReference(input: input)
        var out: [String] = []

        let archived = Set(input.segments.filter { !$0.value.isEmpty }.keys).union(input.backups.flatMap { [$0.timeline, $0.stopTimeline] })
        let known = archived.union(archived.flatMap { t in ref.path(t).map(\.timeline) })
        let missing = known.filter { t in t.rawValue != 1 && !input.histories.contains { $0.timeline == t } }.sorted()
        if report.missingHistories != missing { out.append("missing histories \(report.missingHistories), expected \(missing)") }

        for timeline in known.sorted() {
            let got = report.gaps.filter { $0.timeline == timeline }
            let runs = ref.gaps(timeline)
            let gotRuns = got.compactMap { g -> ClosedRange<SegmentNumber>? in
                guard let a = g.from.segmentNumber(size: ref.size), let b = g.to.segmentNumber(size: ref.size), a <= b else { return nil }
                return a...b
            }
            guard gotRuns == runs else {
                out.append("timeline \(timeline): gaps \(gotRuns), expected \(runs)")
                continue
            }
            for (g, run) in zip(got, runs) {
                if g.from.timeline != timeline || g.to.timeline != timeline { out.append("gap \(g.from) named on another timeline") }
                if g.segments != Int(run.upperBound - run.lowerBound + 1) { out.append("gap \(g.from): \(g.segments) segments") }
                let breaks = ref.breaks(timeline, run)
                if g.breaks != breaks { out.append("gap \(g.from): breaks \(g.breaks), expected \(breaks)") }
                let window = ref.lostWindow(timeline, run)
                if g.window != window { out.append("gap \(g.from): window \(String(describing: g.window)), expected \(String(describing: window))") }
            }
        }
        if report.gaps.contains(where: { !known.contains($0.timeline) }) { out.append("a gap on a timeline the archive does not know") }

        // Windows: exactly the restorable instants, sampled at every edge a span can have.
        var instants: Set<PostgresTimestamp> = Set(input.lastCompletion.values).union(input.backups.map(\.stopTime))
        instants.formUnion(instants.flatMap { [$0.adding(microseconds: -1), $0.adding(microseconds: 1)] })
        for timeline in input.segments.keys.sorted() {
            let spans = report.windows.filter { $0.timeline == timeline }
            for (a, b) in zip(spans, spans.dropFirst()) where b.from <= a.to {
                out.append("timeline \(timeline): windows \(a) and \(b) overlap or touch")
            }
            for t in instants.sorted() {
                let inWindow = spans.contains { $0.from <= t && t <= $0.to }
                if inWindow != ref.restorable(timeline, at: t) {
                    out.append("timeline \(timeline): \(t) restorable \(ref.restorable(timeline, at: t)), windows say \(inWindow)")
                    break
                }
            }
        }
        let sorted = report.windows.sorted { ($0.timeline, $0.from) < ($1.timeline, $1.from) }
        if report.windows != sorted { out.append("windows not sorted by timeline, from") }
        return out
    }

    @Test func generatedArchivesMatchTheBruteForceReference() {
        var gaps = 0, broken = 0, lost = 0, crossing = 0, missingHistory = 0, windows = 0
        for seed in Self.seeds {
            let input = GeneratedArchive(seed: seed).input
            let problems = Self.problems(input)
            #expect(problems.isEmpty, "seed \(seed): \(problems.prefix(5))")
            let report = WALContinuity.analyze(input)
            if !report.gaps.isEmpty { gaps += 1 }
            if report.gaps.contains(where: { !$0.breaks.isEmpty }) { broken += 1 }
            if report.gaps.contains(where: { $0.window?.from != nil && $0.window?.to != nil }) { lost += 1 }
            if report.windows.contains(where: { w in input.backups.contains { $0.id == w.backup && $0.timeline != w.timeline } }) { crossing += 1 }
            if !report.missingHistories.isEmpty { missingHistory += 1 }
            if !report.windows.isEmpty { windows += 1 }
        }
        // The generator reaches the interesting cases.
        let n = Self.seeds.count
        #expect(gaps >= n / 2, "archives with gaps: \(gaps)")
        #expect(broken >= n / 10, "archives with a broken backup: \(broken)")
        #expect(lost >= n / 10, "gaps between two windows: \(lost)")
        #expect(crossing >= n / 10, "windows on a timeline after the backup's: \(crossing)")
        #expect(missingHistory >= n / 10, "archives missing a history: \(missingHistory)")
        #expect(windows >= n / 2, "archives with a window: \(windows)")
    }

    /// The example archives of WALContinuityTests hold to the reference too.
    @Test func theWorkedExamplesMatchTheReference() {
        typealias W = WALContinuityTests
        let inputs = [
            W.input([W.tl1: W.range(0...19, without: 7...9)], backups: [W.backup("b", W.tl1, 2, 3), W.backup("c", W.tl1, 12, 13)]),
            W.input([W.tl1: Array(0...12), W.tl2: Array(11...20)], histories: [W.history2(at: 10)],
                    backups: [W.backup("b", W.tl1, 2, 3), W.backup("c", W.tl2, 14, 15)]),
            W.input([W.tl1: W.range(0...9, without: 9...9), W.tl2: Array(10...20)], histories: [W.history2(at: 10)],
                    backups: [W.backup("x", W.tl1, 8, 11, stopTimeline: W.tl2)]),
        ]
        for input in inputs { #expect(Self.problems(input).isEmpty, "\(Self.problems(input).prefix(5))") }
    }
}
