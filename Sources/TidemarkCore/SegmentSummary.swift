/// A transaction completion as `recovery_target_time` / `_xid` see it: COMMIT, ABORT,
/// COMMIT PREPARED or ABORT PREPARED.
public struct WALCompletion: Hashable, Sendable, Codable {
    /// Where the record starts (PostgreSQL stops *before* it for a time target it exceeds).
    public var lsn: LSN
    /// Where the record ends (the position after it).
    public var end: LSN
    public var xid: UInt32
    public var time: PostgresTimestamp
    public var isAbort: Bool

    public init(lsn: LSN, end: LSN, xid: UInt32, time: PostgresTimestamp, isAbort: Bool = false) {
        self.lsn = lsn
        self.end = end
        self.xid = xid
        self.time = time
        self.isAbort = isAbort
    }

    public var verb: String { isAbort ? "abort" : "commit" }
}

/// A named restore point (`pg_create_restore_point`).
public struct WALRestorePoint: Hashable, Sendable, Codable {
    public var name: String
    public var lsn: LSN
    public var end: LSN
    public var time: PostgresTimestamp

    public init(name: String, lsn: LSN, end: LSN, time: PostgresTimestamp) {
        self.name = name
        self.lsn = lsn
        self.end = end
        self.time = time
    }
}

/// The first record of a new timeline: the end-of-recovery record or checkpoint written at
/// promotion. Its time is when the timeline came to life.
public struct TimelineStart: Hashable, Sendable, Codable {
    public var lsn: LSN
    public var time: PostgresTimestamp
    public var timeline: TimelineID
    public var previous: TimelineID

    public init(lsn: LSN, time: PostgresTimestamp, timeline: TimelineID, previous: TimelineID) {
        self.lsn = lsn
        self.time = time
        self.timeline = timeline
        self.previous = previous
    }
}

/// What one archived segment holds, as far as the recovery planner cares: enough to map a
/// time, xid or restore point to a segment without reading the segment. Stored inside each
/// WAL object (docs/format.md); records that straddle two segments count for the one they
/// start in.
public struct SegmentSummary: Hashable, Sendable, Codable {
    /// The first record that starts in this segment.
    public var firstRecordLSN: LSN?
    /// The end of the last valid record that starts in this segment.
    public var endLSN: LSN?
    /// Number of commits and aborts.
    public var completions: Int
    /// Earliest and latest completion time (not LSN order: commit times are not monotonic).
    public var minTime: PostgresTimestamp?
    public var maxTime: PostgresTimestamp?
    /// The first and last completion in LSN order.
    public var first: WALCompletion?
    public var last: WALCompletion?
    public var minXid: UInt32?
    public var maxXid: UInt32?
    public var restorePoints: [WALRestorePoint]
    public var timelineStart: TimelineStart?
    /// The segment ends with an XLOG SWITCH (the rest is unused).
    public var switched: Bool

    public init(firstRecordLSN: LSN? = nil, endLSN: LSN? = nil, completions: [WALCompletion] = [],
                restorePoints: [WALRestorePoint] = [], timelineStart: TimelineStart? = nil, switched: Bool = false) {
        self.firstRecordLSN = firstRecordLSN
        self.endLSN = endLSN
        self.completions = completions.count
        self.minTime = completions.map(\.time).min()
        self.maxTime = completions.map(\.time).max()
        let byLSN = completions.sorted { $0.lsn < $1.lsn }
        self.first = byLSN.first
        self.last = byLSN.last
        self.minXid = completions.map(\.xid).min()
        self.maxXid = completions.map(\.xid).max()
        self.restorePoints = restorePoints
        self.timelineStart = timelineStart
        self.switched = switched
    }

    /// The summary with more events that belong to this segment (a record that starts here
    /// and ends in the next segment, found by joining the two summaries).
    public func adding(completions more: [WALCompletion], restorePoints points: [WALRestorePoint] = []) -> SegmentSummary {
        var s = self
        for c in more {
            s.completions += 1
            s.minTime = s.minTime.map { min($0, c.time) } ?? c.time
            s.maxTime = s.maxTime.map { max($0, c.time) } ?? c.time
            if s.first.map({ c.lsn < $0.lsn }) ?? true { s.first = c }
            if s.last.map({ c.lsn > $0.lsn }) ?? true { s.last = c }
            s.minXid = s.minXid.map { min($0, c.xid) } ?? c.xid
            s.maxXid = s.maxXid.map { max($0, c.xid) } ?? c.xid
        }
        s.restorePoints += points
        return s
    }
}
