import TidemarkCore

/// Which archived segments retention keeps, and the windows a set of backups and segments
/// gives. WAL positions follow a timeline's history (`TimelineHistory.path`), as recovery reads them.
struct RetentionWAL {
    let segments: [TimelineID: [SegmentNumber: Int64]]
    let graph: TimelineGraph
    let size: WALSegmentSize
    private(set) var kept: [TimelineID: Set<SegmentNumber>] = [:]

    init(segments: [TimelineID: [SegmentNumber: Int64]], graph: TimelineGraph, size: WALSegmentSize) {
        self.segments = segments
        self.graph = graph
        self.size = size
    }

    func path(to timeline: TimelineID) -> [TimelineRange]? { graph.history(of: timeline)?.path }

    /// True when recovery along `path` passes through backup `b` (the planner's rule): it
    /// starts on the path and it stops on the path. A backup of a standby that followed a
    /// promotion during the backup starts on the parent and stops on the child: it serves the
    /// child's paths, never a later branch of the parent (its files hold the child's changes).
    static func onPath(_ b: RetentionBackup, _ path: [TimelineRange]) -> Bool {
        guard let starts = path.firstIndex(where: { $0.timeline == b.timeline }),
              let stops = path.firstIndex(where: { $0.timeline == b.stopTimeline }), starts <= stops
        else { return false }
        let r = path[stops]
        return b.startLSN >= path[starts].begin && (path[starts].end.map { b.startLSN <= $0 } ?? true)
            && b.stopLSN >= r.begin && (r.end.map { b.stopLSN <= $0 } ?? true)
    }

    /// Keeps every archived segment on `path` that holds WAL from `from` to `to` (nil: to the
    /// end of the path). A segment holding a switch point is kept on both timelines.
    mutating func keep(on path: [TimelineRange], from: LSN, to: LSN?) {
        for r in path {
            let lo = max(r.begin, from)
            let end = [r.end, to].compactMap { $0 }.min()
            if let end, end < lo { continue }
            guard let have = segments[r.timeline], !have.isEmpty else { continue }
            let loSeg = lo.segment(size: size)
            if let end {
                let hiSeg = end.segment(size: size)
                if hiSeg - loSeg < SegmentNumber(have.count) {
                    for s in loSeg...hiSeg where have[s] != nil { kept[r.timeline, default: []].insert(s) }
                } else {
                    for s in have.keys where s >= loSeg && s <= hiSeg { kept[r.timeline, default: []].insert(s) }
                }
            } else {
                for s in have.keys where s >= loSeg { kept[r.timeline, default: []].insert(s) }
            }
        }
    }

    /// Keeps the WAL that makes `b` consistent: from its start to its stop LSN.
    mutating func keepConsistency(of b: RetentionBackup) {
        if let full = path(to: b.stopTimeline), let i = full.firstIndex(where: { $0.timeline == b.timeline }) {
            keep(on: Array(full[i...]), from: b.startLSN, to: b.stopLSN)
        } else {
            // No history for the stop timeline: keep the range on both timelines.
            keep(on: [TimelineRange(timeline: b.timeline, begin: .zero, end: nil)], from: b.startLSN, to: b.stopLSN)
            keep(on: [TimelineRange(timeline: b.stopTimeline, begin: .zero, end: nil)], from: b.startLSN, to: b.stopLSN)
        }
    }

    /// Keeps every segment of `timeline` (its history is unknown: nothing can be judged).
    mutating func keepAll(of timeline: TimelineID) {
        kept[timeline, default: []].formUnion(segments[timeline]?.keys ?? [:].keys)
    }

    /// The runs of `numbers` (sorted) of `timeline`, with their bytes.
    func runs(_ numbers: [SegmentNumber], of timeline: TimelineID) -> [SegmentRange] {
        var out: [SegmentRange] = []
        for n in numbers {
            let bytes = segments[timeline]?[n] ?? 0
            if var last = out.last, last.last + 1 == n {
                last.last = n
                last.segments += 1
                last.bytes += bytes
                out[out.count - 1] = last
            } else {
                out.append(SegmentRange(timeline: timeline, first: n, last: n, segments: 1, bytes: bytes))
            }
        }
        return out
    }

    /// (deleted runs, kept runs), timelines in order, oldest segment first.
    func split() -> (deleted: [SegmentRange], kept: [SegmentRange]) {
        var deleted: [SegmentRange] = []
        var keptRuns: [SegmentRange] = []
        for timeline in segments.keys.sorted() {
            let all = (segments[timeline] ?? [:]).keys.sorted()
            let keep = kept[timeline] ?? []
            deleted += runs(all.filter { !keep.contains($0) }, of: timeline)
            keptRuns += runs(all.filter { keep.contains($0) }, of: timeline)
        }
        return (deleted, keptRuns)
    }

    /// Per timeline with segments: from the end of the oldest backup whose WAL reaches the
    /// timeline's newest segment without a gap, to its newest commit.
    static func windows(backups: [RetentionBackup], segments: [TimelineID: Set<SegmentNumber>], graph: TimelineGraph,
                        size: WALSegmentSize, lastCommit: [TimelineID: Int64]) -> [RetentionWindow] {
        var out: [RetentionWindow] = []
        for timeline in segments.keys.sorted() {
            guard let last = segments[timeline]?.max(), let path = graph.history(of: timeline)?.path else { continue }
            func exists(_ s: SegmentNumber) -> Bool {
                var chosen = path[0].timeline
                for r in path where r.begin.segment(size: size) <= s { chosen = r.timeline }
                return segments[chosen]?.contains(s) ?? false
            }
            var first = last
            while first > 0, exists(first - 1) { first -= 1 }
            let reaching = backups.filter {
                onPath($0, path) && $0.startLSN.segment(size: size) >= first && $0.stopLSN.segment(size: size) <= last
            }
            guard let b = reaching.min(by: { ($0.endTime, $0.id) < ($1.endTime, $1.id) }) else { continue }
            out.append(RetentionWindow(timeline: timeline, backup: b.id, from: b.endTime, until: lastCommit[timeline]))
        }
        return out
    }
}
