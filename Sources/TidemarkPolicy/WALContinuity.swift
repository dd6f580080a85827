import TidemarkCore

/// A backup as the continuity check sees it: where its WAL starts and where it becomes consistent.
public struct ContinuityBackup: Sendable, Hashable, Codable {
    public var id: String
    public var timeline: TimelineID
    public var startLSN: LSN
    /// The consistency point: recovery must replay WAL up to here before it may stop.
    public var stopLSN: LSN
    public var stopTimeline: TimelineID
    /// The instant of the consistency point: the first instant a restore of it can reach.
    public var stopTime: PostgresTimestamp

    public init(id: String, timeline: TimelineID, startLSN: LSN, stopLSN: LSN, stopTimeline: TimelineID,
                stopTime: PostgresTimestamp) {
        self.id = id
        self.timeline = timeline
        self.startLSN = startLSN
        self.stopLSN = stopLSN
        self.stopTimeline = stopTimeline
        self.stopTime = stopTime
    }
}

/// What the archive holds, as read by the caller: no I/O happens past this point.
public struct ContinuityInput: Sendable, Hashable {
    public var segmentSize: WALSegmentSize
    /// The whole segments archived on each timeline, by number (`.partial` files are not segments).
    public var segments: [TimelineID: Set<SegmentNumber>]
    /// The `.history` files present in the archive, parsed.
    public var histories: [TimelineHistory]
    public var backups: [ContinuityBackup]
    /// Per archived segment: the time of its last COMMIT or ABORT in LSN order; absent when it has none.
    public var lastCompletion: [WALSegmentName: PostgresTimestamp]

    public init(segmentSize: WALSegmentSize, segments: [TimelineID: Set<SegmentNumber>], histories: [TimelineHistory],
                backups: [ContinuityBackup], lastCompletion: [WALSegmentName: PostgresTimestamp]) {
        self.segmentSize = segmentSize
        self.segments = segments
        self.histories = histories
        self.backups = backups
        self.lastCompletion = lastCompletion
    }
}

/// Instants no recovery can reach any more because of a gap.
public struct LostWindow: Sendable, Hashable, Codable {
    /// The last instant still restorable before the gap; nil when nothing before it is restorable.
    public var from: PostgresTimestamp?
    /// The first instant restorable again after the gap; nil when nothing after it is: the
    /// caller shows "until the end of the archive".
    public var to: PostgresTimestamp?

    public init(from: PostgresTimestamp?, to: PostgresTimestamp?) {
        self.from = from
        self.to = to
    }
}

/// A maximal run of missing segments on one timeline.
public struct WALGap: Sendable, Hashable, Codable {
    public var timeline: TimelineID
    /// The first and last missing segments, named on `timeline`.
    public var from: WALSegmentName
    public var to: WALSegmentName
    public var segments: Int
    /// Backups that can no longer reach consistency: their WAL from start to stop needs a
    /// segment of this gap. Sorted.
    public var breaks: [String]
    /// What this gap costs on its timeline; nil when it costs no restorable instant (no backup
    /// reaches it and none starts after it).
    public var window: LostWindow?

    public init(timeline: TimelineID, from: WALSegmentName, to: WALSegmentName, segments: Int, breaks: [String],
                window: LostWindow?) {
        self.timeline = timeline
        self.from = from
        self.to = to
        self.segments = segments
        self.breaks = breaks
        self.window = window
    }

    enum CodingKeys: String, CodingKey { case timeline, from, to, segments, breaks, window }

    /// Segment names travel as their file names.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func name(_ key: CodingKeys) throws -> WALSegmentName {
            let text = try c.decode(String.self, forKey: key)
            guard let name = WALSegmentName(text) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "'\(text)' is not a WAL segment name")
            }
            return name
        }
        self.init(timeline: try c.decode(TimelineID.self, forKey: .timeline), from: try name(.from), to: try name(.to),
                  segments: try c.decode(Int.self, forKey: .segments), breaks: try c.decode([String].self, forKey: .breaks),
                  window: try c.decodeIfPresent(LostWindow.self, forKey: .window))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(timeline, forKey: .timeline)
        try c.encode(from.description, forKey: .from)
        try c.encode(to.description, forKey: .to)
        try c.encode(segments, forKey: .segments)
        try c.encode(breaks, forKey: .breaks)
        try c.encodeIfPresent(window, forKey: .window)
    }
}

/// Instants `recovery_target_time` can reach on one timeline, from one backup onwards.
public struct RestorableSpan: Sendable, Hashable, Codable {
    public var timeline: TimelineID
    public var from: PostgresTimestamp
    public var to: PostgresTimestamp
    /// The backup a restore to `from` starts from.
    public var backup: String

    public init(timeline: TimelineID, from: PostgresTimestamp, to: PostgresTimestamp, backup: String) {
        self.timeline = timeline
        self.from = from
        self.to = to
        self.backup = backup
    }
}

public struct ContinuityReport: Sendable, Hashable, Codable {
    /// By timeline, oldest segment first.
    public var gaps: [WALGap]
    /// Timelines after 1 that have segments or backups, or lie on the history of one that has,
    /// but no `.history` file, sorted. A missing ancestor's file matters too: PostgreSQL's
    /// search for the newest timeline stops at it, and a later promotion would reuse its ID.
    public var missingHistories: [TimelineID]
    /// Sorted by timeline, then `from`; spans of one timeline never overlap or touch.
    public var windows: [RestorableSpan]

    public init(gaps: [WALGap], missingHistories: [TimelineID], windows: [RestorableSpan]) {
        self.gaps = gaps
        self.missingHistories = missingHistories
        self.windows = windows
    }
}

/// WAL continuity as a pure function (issue 13, "What it proves" 3 and 4): gaps per timeline,
/// what each gap breaks, and the instants recovery can still reach. Segments are read along a
/// timeline's history the way recovery reads them (`XLogFileReadAnyTLI`): segment `s` comes
/// from the newest timeline of the path that began in or before `s`, so the segment holding a
/// switch point is read from the new timeline.
public enum WALContinuity {
    public static func analyze(_ input: ContinuityInput) -> ContinuityReport {
        let archive = ContinuityArchive(input)
        let ranges = archive.timelines.compactMap { t in archive.checkedRange(of: t).map { (t, $0) } }
        // A timeline that lost every segment still has a path: its gaps' windows are measured on it.
        let spans = archive.spans(on: Set(archive.segments.keys).union(ranges.map(\.0)).sorted())
        var gaps: [WALGap] = []
        for (timeline, range) in ranges {
            for run in archive.missingRuns(of: timeline, in: range) {
                let breaks = input.backups.filter { archive.consistencyReads($0, timeline: timeline, in: run) }.map(\.id)
                gaps.append(WALGap(timeline: timeline,
                                   from: WALSegmentName(timeline: timeline, segment: run.lowerBound, size: archive.size),
                                   to: WALSegmentName(timeline: timeline, segment: run.upperBound, size: archive.size),
                                   segments: Int(clamping: run.upperBound - run.lowerBound + 1),
                                   breaks: Set(breaks).sorted(),
                                   window: lostWindow(spans.filter { $0.span.timeline == timeline }, around: run)))
            }
        }
        let windows = merged(spans.map(\.span).filter { archive.segments[$0.timeline] != nil })
        return ContinuityReport(gaps: gaps, missingHistories: archive.missingHistories, windows: windows)
    }

    /// `from`: the end of the spans that stop right before the gap; `to`: the start of the
    /// first span whose backup starts after it.
    static func lostWindow(_ spans: [ContinuitySpan], around gap: ClosedRange<SegmentNumber>) -> LostWindow? {
        let before = spans.filter { gap.lowerBound > 0 && $0.last == gap.lowerBound - 1 }.map(\.span.to).max()
        let after = spans.filter { $0.first > gap.upperBound }.map(\.span.from).min()
        guard before != nil || after != nil else { return nil }
        return LostWindow(from: before, to: after)
    }
}

/// The archive seen through timeline histories: which file recovery reads for each segment.
struct ContinuityArchive {
    let size: WALSegmentSize
    let segments: [TimelineID: Set<SegmentNumber>]
    let graph: TimelineGraph
    let backups: [ContinuityBackup]
    let lastCompletion: [WALSegmentName: PostgresTimestamp]
    /// Every timeline with segments or backups, and their ancestors, sorted.
    let timelines: [TimelineID]
    let missingHistories: [TimelineID]

    init(_ input: ContinuityInput) {
        size = input.segmentSize
        segments = input.segments.filter { !$0.value.isEmpty }
        let graph = TimelineGraph(histories: input.histories)
        self.graph = graph
        backups = input.backups.sorted { $0.id < $1.id }
        lastCompletion = input.lastCompletion
        let archived = Set(segments.keys).union(input.backups.flatMap { [$0.timeline, $0.stopTimeline] })
        let ancestors = archived.flatMap { graph.history(of: $0)?.switches.map(\.parent) ?? [] }
        let known = archived.union(ancestors).sorted()
        timelines = known
        missingHistories = known.filter { graph.history(of: $0) == nil }
    }

    /// The timeline's history; a timeline without a `.history` file has no known ancestors.
    func path(to timeline: TimelineID) -> [TimelineRange] {
        graph.history(of: timeline)?.path ?? [TimelineRange(timeline: timeline, begin: .zero, end: nil)]
    }

    /// What recovery reads along `path`: per range, its timeline and the segments read from it
    /// (`upper` nil: to the end). A range that begins in the same segment as the next reads none.
    func reads(along path: [TimelineRange]) -> [(timeline: TimelineID, lower: SegmentNumber, upper: SegmentNumber?)] {
        var out: [(timeline: TimelineID, lower: SegmentNumber, upper: SegmentNumber?)] = []
        for (i, r) in path.enumerated() {
            let lower = i == 0 ? 0 : r.begin.segment(size: size)
            guard i + 1 < path.count else {
                out.append((r.timeline, lower, nil))
                break
            }
            let next = path[i + 1].begin.segment(size: size)
            if next > lower { out.append((r.timeline, lower, next - 1)) }
        }
        return out
    }

    func startSegment(_ b: ContinuityBackup) -> SegmentNumber { b.startLSN.segment(size: size) }
    /// The segment holding the consistency point (the planner's rule: it must be archived).
    func stopSegment(_ b: ContinuityBackup) -> SegmentNumber { b.stopLSN.segment(size: size) }

    /// The path recovery follows to make `b` consistent: its stop timeline's history, or its
    /// start timeline alone when that history does not lead through it (a missing `.history`).
    func consistencyPath(of b: ContinuityBackup) -> [TimelineRange] {
        let full = path(to: b.stopTimeline)
        return full.contains { $0.timeline == b.timeline } ? full : [TimelineRange(timeline: b.timeline, begin: .zero, end: nil)]
    }

    /// The segments of `timeline` that `b`'s WAL from start to stop is read from.
    func consistencyRange(of b: ContinuityBackup, on timeline: TimelineID) -> ClosedRange<SegmentNumber>? {
        let start = startSegment(b), stop = stopSegment(b)
        guard start <= stop else { return nil }
        for r in reads(along: consistencyPath(of: b)) where r.timeline == timeline {
            let lo = max(r.lower, start), hi = min(r.upper ?? .max, stop)
            if lo <= hi { return lo...hi }
        }
        return nil
    }

    func consistencyReads(_ b: ContinuityBackup, timeline: TimelineID, in gap: ClosedRange<SegmentNumber>) -> Bool {
        consistencyRange(of: b, on: timeline)?.overlaps(gap) ?? false
    }

    /// True when recovery along `path` can start from `b`: it starts on the path, and it stops
    /// on the path (on the same range, or — a standby promoted during its backup — on a later one).
    func onPath(_ b: ContinuityBackup, _ path: [TimelineRange]) -> Bool {
        guard let starts = path.firstIndex(where: { $0.timeline == b.timeline }),
              let stops = path.firstIndex(where: { $0.timeline == b.stopTimeline }), starts <= stops else { return false }
        let s = path[starts], r = path[stops]
        return b.startLSN >= s.begin && (s.end.map { b.startLSN <= $0 } ?? true)
            && b.stopLSN >= r.begin && (r.end.map { b.stopLSN <= $0 } ?? true)
    }

    /// The segments of `timeline` that must be archived: from the first one any backup needs
    /// (to become consistent, or to replay onwards along a path through this timeline) — or,
    /// when none does, the oldest archived one — to the last one: the newest archived, or the
    /// last one a later timeline's history reads from it when that timeline is archived.
    /// A timeline's WAL before every backup is not checked: retention deletes it.
    func checkedRange(of timeline: TimelineID) -> ClosedRange<SegmentNumber>? {
        var needs: [SegmentNumber] = backups.compactMap { consistencyRange(of: $0, on: timeline)?.lowerBound }
        var last = segments[timeline]?.max()
        for t in segments.keys {
            let p = path(to: t)
            let readsHere = reads(along: p).filter { $0.timeline == timeline }
            guard !readsHere.isEmpty else { continue }
            for b in backups where onPath(b, p) {
                let start = startSegment(b)
                for r in readsHere where r.upper.map({ start <= $0 }) ?? true { needs.append(max(start, r.lower)) }
            }
            if t != timeline { for r in readsHere { if let upper = r.upper { last = max(last ?? upper, upper) } } }
        }
        guard let first = needs.min() ?? segments[timeline]?.min(), let last, first <= last else { return nil }
        return first...last
    }

    /// Maximal runs of segment numbers in `range` that `timeline` lacks, oldest first.
    func missingRuns(of timeline: TimelineID, in range: ClosedRange<SegmentNumber>) -> [ClosedRange<SegmentNumber>] {
        let present = (segments[timeline] ?? []).filter { range.contains($0) }.sorted()
        var runs: [ClosedRange<SegmentNumber>] = []
        var next = range.lowerBound
        for s in present {
            if s > next { runs.append(next...(s - 1)) }
            next = s + 1
        }
        if let last = present.last {
            if last < range.upperBound { runs.append((last + 1)...range.upperBound) }
        } else {
            runs.append(range)
        }
        return runs
    }
}
