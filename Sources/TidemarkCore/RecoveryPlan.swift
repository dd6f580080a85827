/// The recovery planner's vocabulary: what is asked (target, timeline), what it knows of
/// backups and the archive, and what it answers (a plan, or why the target is unreachable).

/// Where recovery should stop.
public enum RecoveryTarget: Hashable, Sendable {
    /// The backup's consistency point.
    case immediate
    /// The end of the archived WAL.
    case latest
    case time(PostgresTimestamp)
    case lsn(LSN)
    case xid(UInt32)
    case name(String)
}

/// Which timeline recovery follows.
public enum TimelineChoice: Hashable, Sendable {
    /// For a time: the timeline that was live at that time; otherwise the newest one that
    /// holds the target.
    case automatic
    /// The newest timeline (PostgreSQL's `latest`).
    case latest
    /// The backup's own timeline.
    case current
    case id(TimelineID)
}

public struct PlanRequest: Hashable, Sendable {
    public var target: RecoveryTarget
    /// Stop after (true, PostgreSQL's default) or before the target.
    public var inclusive: Bool
    public var timeline: TimelineChoice
    /// Use this backup instead of the newest suitable one.
    public var backup: String?

    public init(target: RecoveryTarget, inclusive: Bool = true, timeline: TimelineChoice = .automatic, backup: String? = nil) {
        self.target = target
        self.inclusive = inclusive
        self.timeline = timeline
        self.backup = backup
    }
}

/// What the planner needs of a backup.
public struct PlannerBackup: Hashable, Sendable {
    public var id: String
    public var timeline: TimelineID
    public var startLSN: LSN
    /// The consistency point: recovery must replay at least this far.
    public var stopLSN: LSN
    public var startTime: PostgresTimestamp?
    public var stopTime: PostgresTimestamp?

    public init(id: String, timeline: TimelineID, startLSN: LSN, stopLSN: LSN, startTime: PostgresTimestamp? = nil,
                stopTime: PostgresTimestamp? = nil) {
        self.id = id
        self.timeline = timeline
        self.startLSN = startLSN
        self.stopLSN = stopLSN
        self.startTime = startTime
        self.stopTime = stopTime
    }
}

/// What the archive holds.
public struct WALInventory: Sendable {
    public var segmentSize: WALSegmentSize
    /// Archived segments per timeline (segment numbers, `lsn / segmentSize`).
    public var segments: [TimelineID: Set<SegmentNumber>]
    public var graph: TimelineGraph
    /// Summaries read from the segments' objects.
    public var summaries: [WALSegmentName: SegmentSummary]
    /// Every completion of a segment, for the few segments where the exact record matters
    /// (the planner asks for them with `.needsDetail`).
    public var details: [WALSegmentName: [WALCompletion]]

    public init(segmentSize: WALSegmentSize, segments: [TimelineID: Set<SegmentNumber>], graph: TimelineGraph,
                summaries: [WALSegmentName: SegmentSummary] = [:], details: [WALSegmentName: [WALCompletion]] = [:]) {
        self.segmentSize = segmentSize
        self.segments = segments
        self.graph = graph
        self.summaries = summaries
        self.details = details
    }
}

/// The point where recovery will stop.
public enum StopPoint: Hashable, Sendable {
    /// At the backup's consistency point (`recovery_target = 'immediate'`).
    case consistency(LSN)
    /// At the end of the archived WAL.
    case endOfArchive(LSN)
    /// Before this completion (a time target it exceeds, or an exclusive xid target).
    case before(WALCompletion)
    /// After this completion (an inclusive xid target).
    case after(WALCompletion)
    case restorePoint(WALRestorePoint)
    /// After the first record at or past the position (inclusive) or before it (exclusive).
    case lsn(LSN, inclusive: Bool)

    /// The WAL position replay reaches.
    public var lsn: LSN {
        switch self {
        case .consistency(let l), .endOfArchive(let l), .lsn(let l, _): return l
        case .before(let c): return c.lsn
        case .after(let c): return c.end
        case .restorePoint(let r): return r.end
        }
    }
}

/// A proven way to reach the target.
public struct RecoveryPlan: Sendable {
    public var request: PlanRequest
    public var backup: PlannerBackup
    public var targetTimeline: TimelineID
    public var path: [TimelineRange]
    public var stop: StopPoint
    /// The last commit or abort that replay will apply, as far as the archive shows (nil when
    /// none happened between the start of the archived WAL and the stop).
    public var lastCompletion: WALCompletion?
    /// Every segment recovery reads, in order; each one is in the archive.
    public var segments: [WALSegmentName]
    /// History files recovery reads.
    public var histories: [TimelineID]
    /// Bytes of WAL between the backup's start and the stop.
    public var replayBytes: UInt64
    public var notes: [String]
}

/// Why a target cannot be reached, and what can.
public struct Unreachable: Error, Sendable, CustomStringConvertible {
    public enum Reason: String, Sendable, Codable {
        case noBackup, beforeOldestBackup, afterLastCommit, afterArchiveEnd, missingSegment, timelineNotFound,
             timelineDoesNotLead, targetNotFound, backupNotUsable, historyDamaged, timelineAmbiguous
    }
    public var reason: Reason
    public var message: String
    /// Targets that would work (words for a DBA; flags included).
    public var alternatives: [String]
    /// The missing segment, when that is the reason.
    public var missing: String?

    public var description: String { message }

    public init(reason: Reason, message: String, alternatives: [String], missing: String? = nil) {
        self.reason = reason
        self.message = message
        self.alternatives = alternatives
        self.missing = missing
    }
}

public enum PlanOutcome: Sendable {
    case plan(RecoveryPlan)
    /// Supply `WALInventory.details` for these segments and ask again.
    case needsDetail([WALSegmentName])
    case unreachable(Unreachable)
}
