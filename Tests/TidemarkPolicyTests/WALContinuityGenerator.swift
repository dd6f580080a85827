import TidemarkCore
import TidemarkPolicy

/// A generated archive: timeline 1 and up to three promotions (switch points inside or at the
/// start of a segment), each timeline's segments with holes and sometimes an expired prefix,
/// some `.history` files missing, backups on every timeline (some stopping on a child, as a
/// standby promoted during its backup does), and completion times that grow with the segment.
struct GeneratedArchive {
    var seed: UInt64
    var input: ContinuityInput

    static let size = WALSegmentSize(rawValue: 1 << 20)!
    /// 2026-11-01T00:00:00Z
    static let base: Int64 = 1_793_491_200

    static func time(_ segment: SegmentNumber, _ seconds: Int64) -> PostgresTimestamp {
        PostgresTimestamp(unixSeconds: base + Int64(segment) * 60 + seconds)
    }

    init(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        self.seed = seed
        let size = Self.size.rawValue
        let n = rng.uint64(20...60)
        var histories: [TimelineID: TimelineHistory] = [TimelineID(1): TimelineHistory(timeline: TimelineID(1), switches: [])]
        var begins: [TimelineID: LSN] = [TimelineID(1): .zero]
        var children: [TimelineID: [(TimelineID, LSN)]] = [:]
        for _ in 0..<rng.int(0...3) {
            let parents = histories.keys.sorted()
            let parent = parents[rng.int(0...(parents.count - 1))]
            let from = (begins[parent] ?? .zero).segment(size: Self.size) + 1
            guard from + 3 <= n else { continue }
            let segment = rng.uint64(from...(n - 3))
            let switchpoint = LSN(segment * size + (rng.chance(0.2) ? 0 : rng.uint64(1...(size - 1))))
            let child = TimelineID(UInt32(histories.count + 1))
            histories[child] = TimelineHistory(timeline: child, switches: (histories[parent]?.switches ?? [])
                                               + [TimelineSwitch(parent: parent, switchpoint: switchpoint, reason: "promoted")])
            begins[child] = switchpoint
            children[parent, default: []].append((child, switchpoint))
        }

        var segments: [TimelineID: Set<SegmentNumber>] = [:]
        var ends: [TimelineID: SegmentNumber] = [:]
        var completions: [WALSegmentName: PostgresTimestamp] = [:]
        for timeline in histories.keys.sorted() {
            let begin = (begins[timeline] ?? .zero).segment(size: Self.size)
            let end = rng.uint64(begin...n)
            ends[timeline] = end
            var s = begin + (rng.chance(0.2) ? rng.uint64(0...5) : 0)
            while s <= end {
                if rng.chance(0.07) {
                    s += rng.uint64(1...3)
                    continue
                }
                segments[timeline, default: []].insert(s)
                if rng.chance(0.85) {
                    completions[WALSegmentName(timeline: timeline, segment: s, size: Self.size)] = Self.time(s, rng.int64(0...59))
                }
                s += 1
            }
        }

        var backups: [ContinuityBackup] = []
        let timelines = histories.keys.sorted()
        for i in 0..<rng.int(0...8) {
            let timeline = timelines[rng.int(0...(timelines.count - 1))]
            let low = (begins[timeline] ?? .zero).rawValue
            let high = max(low, ((ends[timeline] ?? 0) + 1) * size - 1)
            let start = rng.uint64(low...high)
            var stopTimeline = timeline
            var stop = start + rng.uint64(0...(3 * size))
            if rng.chance(0.3), let promoted = children[timeline]?.first(where: { $0.1.rawValue > start }) {
                stopTimeline = promoted.0
                stop = promoted.1.rawValue + rng.uint64(1...(2 * size))
            }
            let stopSegment = LSN(stop).segment(size: Self.size)
            backups.append(ContinuityBackup(id: "b\(i)", timeline: timeline, startLSN: LSN(start), stopLSN: LSN(stop),
                                            stopTimeline: stopTimeline, stopTime: Self.time(stopSegment, rng.int64(0...59))))
        }

        let kept = histories.values.filter { $0.timeline.rawValue == 1 || !rng.chance(0.2) }.sorted { $0.timeline < $1.timeline }
        input = ContinuityInput(segmentSize: Self.size, segments: segments, histories: kept, backups: backups,
                                lastCompletion: completions)
    }
}

/// The rules of WAL continuity by brute force, one segment at a time: what the property test
/// holds `WALContinuity` to.
struct ContinuityReference {
    let input: ContinuityInput
    var size: WALSegmentSize { input.segmentSize }
    /// Past every segment and every backup's stop.
    var limit: SegmentNumber {
        let s = input.segments.values.flatMap { $0 }.max() ?? 0
        let b = input.backups.map { $0.stopLSN.segment(size: size) }.max() ?? 0
        return max(s, b) + 2
    }

    func path(_ timeline: TimelineID) -> [TimelineRange] {
        if let h = input.histories.first(where: { $0.timeline == timeline }) { return h.path }
        return [TimelineRange(timeline: timeline, begin: .zero, end: nil)]
    }

    /// The newest timeline of the path that began in or before segment `s`.
    func reader(_ s: SegmentNumber, _ path: [TimelineRange]) -> TimelineID {
        for r in path.reversed() where r.begin.segment(size: size) <= s { return r.timeline }
        return path[0].timeline
    }

    func present(_ s: SegmentNumber, _ path: [TimelineRange]) -> Bool {
        input.segments[reader(s, path)]?.contains(s) ?? false
    }

    func completion(_ s: SegmentNumber, _ path: [TimelineRange]) -> PostgresTimestamp? {
        input.lastCompletion[WALSegmentName(timeline: reader(s, path), segment: s, size: size)]
    }

    func onPath(_ b: ContinuityBackup, _ path: [TimelineRange]) -> Bool {
        var startAt: Int?
        var stopAt: Int?
        for (i, r) in path.enumerated() {
            let end = r.end ?? LSN(.max)
            if r.timeline == b.timeline, b.startLSN >= r.begin, b.startLSN <= end { startAt = i }
            if r.timeline == b.stopTimeline, b.stopLSN >= r.begin, b.stopLSN <= end { stopAt = i }
        }
        guard let startAt, let stopAt else { return false }
        return startAt <= stopAt
    }

    func consistencyPath(_ b: ContinuityBackup) -> [TimelineRange] {
        let p = path(b.stopTimeline)
        return p.contains { $0.timeline == b.timeline } ? p : [TimelineRange(timeline: b.timeline, begin: .zero, end: nil)]
    }

    func start(_ b: ContinuityBackup) -> SegmentNumber { b.startLSN.segment(size: size) }
    func stop(_ b: ContinuityBackup) -> SegmentNumber { b.stopLSN.segment(size: size) }

    /// Some backup on the timeline's path reaches an archived completion at or after `t`,
    /// with every segment from its start there.
    func restorable(_ timeline: TimelineID, at t: PostgresTimestamp) -> Bool {
        let p = path(timeline)
        for b in input.backups where onPath(b, p) && b.stopTime <= t && start(b) <= stop(b) {
            var s = start(b)
            while s <= limit, present(s, p) {
                if s >= stop(b), let c = completion(s, p), c >= t { return true }
                s += 1
            }
        }
        return false
    }

    /// The segments of `timeline` the check covers: from the first any backup reads from it
    /// (to become consistent, or replaying onwards along an archived timeline's path), else its
    /// oldest segment, to its newest or the last one an archived later timeline reads from it.
    func checked(_ timeline: TimelineID) -> [SegmentNumber] {
        var needs: [SegmentNumber] = []
        for b in input.backups where start(b) <= stop(b) {
            if let s = (start(b)...stop(b)).first(where: { reader($0, consistencyPath(b)) == timeline }) { needs.append(s) }
        }
        var last = input.segments[timeline]?.max()
        for t in input.segments.keys where !(input.segments[t] ?? []).isEmpty {
            let p = path(t)
            for b in input.backups where onPath(b, p) {
                if let s = (start(b)...limit).first(where: { reader($0, p) == timeline }) { needs.append(s) }
            }
            if t != timeline, let s = (0...limit).last(where: { reader($0, p) == timeline }) { last = max(last ?? s, s) }
        }
        guard let first = needs.min() ?? input.segments[timeline]?.min(), let last, first <= last else { return [] }
        return Array(first...last)
    }

    func gaps(_ timeline: TimelineID) -> [ClosedRange<SegmentNumber>] {
        var runs: [ClosedRange<SegmentNumber>] = []
        for s in checked(timeline) where !(input.segments[timeline]?.contains(s) ?? false) {
            if let r = runs.last, r.upperBound + 1 == s { runs[runs.count - 1] = r.lowerBound...s } else { runs.append(s...s) }
        }
        return runs
    }

    func breaks(_ timeline: TimelineID, _ gap: ClosedRange<SegmentNumber>) -> [String] {
        input.backups.filter { b in
            start(b) <= stop(b) && (start(b)...stop(b)).contains { gap.contains($0) && reader($0, consistencyPath(b)) == timeline }
        }.map(\.id).sorted()
    }

    /// The latest completion of a span (`b`'s, from its stop to `last`) that reaches `last`,
    /// when it is at or after the backup's stop time.
    func spanEnd(_ b: ContinuityBackup, _ p: [TimelineRange], through last: SegmentNumber) -> PostgresTimestamp? {
        guard start(b) <= stop(b), stop(b) <= last, (start(b)...last).allSatisfy({ present($0, p) }) else { return nil }
        guard let to = (stop(b)...last).compactMap({ completion($0, p) }).max(), to >= b.stopTime else { return nil }
        return to
    }

    func lostWindow(_ timeline: TimelineID, _ gap: ClosedRange<SegmentNumber>) -> LostWindow? {
        let p = path(timeline)
        let before = gap.lowerBound == 0 ? nil
            : input.backups.filter { onPath($0, p) }.compactMap { spanEnd($0, p, through: gap.lowerBound - 1) }.max()
        let after = input.backups.filter { b in
            onPath(b, p) && start(b) > gap.upperBound
                && (stop(b)...limit).contains { s in spanEnd(b, p, through: s) != nil }
        }.map(\.stopTime).min()
        return before == nil && after == nil ? nil : LostWindow(from: before, to: after)
    }
}
