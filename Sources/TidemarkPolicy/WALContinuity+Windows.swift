import TidemarkCore

/// One backup's restorable instants on one timeline, with the segments it replays: from its
/// start segment to `last`, the segment before the first missing one along the timeline's path.
struct ContinuitySpan: Sendable, Hashable {
    var span: RestorableSpan
    var first: SegmentNumber
    var last: SegmentNumber
}

/// The archived segments recovery along one path reads, in order, cut into runs without a
/// missing segment; `suffixMax[i]`: the latest completion from entry `i` to the end of its run.
struct PathWAL {
    var numbers: [SegmentNumber] = []
    var runEnd: [Int] = []
    var suffixMax: [PostgresTimestamp?] = []

    init(_ archive: ContinuityArchive, path: [TimelineRange]) {
        var names: [WALSegmentName] = []
        for r in archive.reads(along: path) {
            for s in (archive.segments[r.timeline] ?? []).sorted() where s >= r.lower && r.upper.map({ s <= $0 }) ?? true {
                numbers.append(s)
                names.append(WALSegmentName(timeline: r.timeline, segment: s, size: archive.size))
            }
        }
        runEnd = Array(repeating: 0, count: numbers.count)
        suffixMax = Array(repeating: nil, count: numbers.count)
        var i = numbers.count - 1
        while i >= 0 {
            let continues = i + 1 < numbers.count && numbers[i + 1] == numbers[i] + 1
            runEnd[i] = continues ? runEnd[i + 1] : i
            let here = archive.lastCompletion[names[i]]
            let later = continues ? suffixMax[i + 1] : nil
            suffixMax[i] = [here, later].compactMap { $0 }.max()
            i -= 1
        }
    }

    /// The index of segment `s`, nil when recovery along the path finds no file for it.
    func index(of s: SegmentNumber) -> Int? {
        var lo = 0, hi = numbers.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if numbers[mid] < s { lo = mid + 1 } else { hi = mid }
        }
        return lo < numbers.count && numbers[lo] == s ? lo : nil
    }
}

extension ContinuityArchive {
    /// Every backup's span on each of `timelines` whose path it is on, when its WAL from start
    /// to stop is there and some completion at or after its stop time is reachable.
    func spans(on timelines: [TimelineID]) -> [ContinuitySpan] {
        var out: [ContinuitySpan] = []
        for timeline in timelines {
            let p = path(to: timeline)
            let wal = PathWAL(self, path: p)
            for b in backups where onPath(b, p) {
                let start = startSegment(b), stop = stopSegment(b)
                guard start <= stop, let i = wal.index(of: start), let j = wal.index(of: stop), wal.runEnd[i] >= j,
                      let to = wal.suffixMax[j], to >= b.stopTime else { continue }
                out.append(ContinuitySpan(span: RestorableSpan(timeline: timeline, from: b.stopTime, to: to, backup: b.id),
                                          first: start, last: wal.numbers[wal.runEnd[j]]))
            }
        }
        return out
    }
}

extension WALContinuity {
    /// Spans of one timeline that overlap or touch become one, named after the backup of the
    /// earliest `from` (the smallest id among equals). Sorted by timeline, then `from`.
    static func merged(_ spans: [RestorableSpan]) -> [RestorableSpan] {
        let sorted = spans.sorted { ($0.timeline, $0.from, $0.backup) < ($1.timeline, $1.from, $1.backup) }
        var out: [RestorableSpan] = []
        for s in sorted {
            if var last = out.last, last.timeline == s.timeline, s.from <= last.to {
                last.to = max(last.to, s.to)
                out[out.count - 1] = last
            } else {
                out.append(s)
            }
        }
        return out
    }
}
