import TidemarkCore

/// One complete backup as retention sees it (from its catalog and pin).
public struct RetentionBackup: Sendable, Hashable {
    public var id: String
    public var type: BackupType
    public var parent: String?
    /// The backup's end (its stop time), seconds since the epoch: the order retention uses.
    public var endTime: Int64
    public var timeline: TimelineID
    public var stopTimeline: TimelineID
    public var startLSN: LSN
    public var stopLSN: LSN
    /// The pin's reason ("" when pinned without one); nil when not pinned.
    public var pin: String?
    /// Bytes its own objects take in the repository.
    public var storedBytes: Int64
    /// Set when the store refuses to delete some of its objects before this instant (S3
    /// Object Lock), as text for the reason: it is kept, with its chain.
    public var lockedUntil: String?

    public init(id: String, type: BackupType, parent: String?, endTime: Int64, timeline: TimelineID,
                stopTimeline: TimelineID, startLSN: LSN, stopLSN: LSN, pin: String? = nil, storedBytes: Int64 = 0,
                lockedUntil: String? = nil) {
        self.id = id
        self.type = type
        self.parent = parent
        self.endTime = endTime
        self.timeline = timeline
        self.stopTimeline = stopTimeline
        self.startLSN = startLSN
        self.stopLSN = stopLSN
        self.pin = pin
        self.storedBytes = storedBytes
        self.lockedUntil = lockedUntil
    }
}

/// A restore in progress: its backup stays, with the WAL from its start along `timeline`.
public struct RetentionReader: Sendable, Hashable {
    public var backup: String
    public var timeline: TimelineID
    /// The keep reason, e.g. "in use by restore pid 4242 on db1 until 2026-12-03T03:00:00Z".
    public var reason: String

    public init(backup: String, timeline: TimelineID, reason: String) {
        self.backup = backup
        self.timeline = timeline
        self.reason = reason
    }
}

/// Everything retention decides from: a pure value, read from one repository.
public struct RetentionInput: Sendable {
    public var backups: [RetentionBackup]
    /// Archived segments per timeline, with the bytes their objects take (the segment and
    /// anything stored with it: `.partial`, `.backup` files, summaries).
    public var segments: [TimelineID: [SegmentNumber: Int64]]
    public var graph: TimelineGraph
    public var segmentSize: WALSegmentSize
    /// The newest archived commit of each timeline (seconds since the epoch), where known.
    /// A timeline without one counts as touching the PITR window (kept, to be safe).
    public var lastCommit: [TimelineID: Int64]
    /// The wall clock, for the failing-backups guard.
    public var now: Int64
    /// Evaluate at this instant instead (`expire --as-of`): backups that end after it are left
    /// alone, and the PITR window ends here.
    public var asOf: Int64?
    /// Restores in progress.
    public var readers: [RetentionReader] = []

    public init(backups: [RetentionBackup], segments: [TimelineID: [SegmentNumber: Int64]], graph: TimelineGraph,
                segmentSize: WALSegmentSize, lastCommit: [TimelineID: Int64], now: Int64, asOf: Int64? = nil) {
        self.backups = backups
        self.segments = segments
        self.graph = graph
        self.segmentSize = segmentSize
        self.lastCommit = lastCommit
        self.now = now
        self.asOf = asOf
    }
}

/// Kept or deleted, and why (docs/expire-json.md).
public struct RetentionDecision: Sendable, Hashable, Codable {
    public var id: String
    public var keep: Bool
    /// Why it is kept ("daily 2026-11-30", "weekly 2026-W48", "monthly 2026-11", "yearly 2026",
    /// "pitr window", "parent of X", "pinned: reason", "newest full chain", "newer than as-of",
    /// "object lock until T");
    /// for a deleted backup, "no rule keeps it".
    public var reasons: [String]
    public var endTime: Int64
    public var storedBytes: Int64
}

/// A run of consecutive segments of one timeline.
public struct SegmentRange: Sendable, Hashable, Codable {
    public var timeline: TimelineID
    public var first: SegmentNumber
    public var last: SegmentNumber
    public var segments: Int
    public var bytes: Int64
}

/// The instants one timeline can be recovered to, judged from which backups and segments exist:
/// from the end of the oldest backup whose WAL reaches the timeline's newest segment without a
/// gap, to the timeline's newest archived commit (nil when unknown).
public struct RetentionWindow: Sendable, Hashable, Codable {
    public var timeline: TimelineID
    public var backup: String
    public var from: Int64
    public var until: Int64?
}

/// What expire will do.
public struct RetentionPlan: Sendable {
    /// Every backup, ordered by end time.
    public var decisions: [RetentionDecision]
    /// Segments to delete, per timeline, in runs; oldest first within a timeline.
    public var deletedWAL: [SegmentRange]
    /// Segments kept, per timeline, in runs.
    public var keptWAL: [SegmentRange]
    /// The PITR window's start and end (seconds since the epoch), when a window applies.
    public var windowStart: Int64?
    public var windowEnd: Int64?
    /// Set when expire must delete nothing at all, with the reason (every decision then keeps).
    public var hold: String?
    public var windowsBefore: [RetentionWindow]
    public var windowsAfter: [RetentionWindow]
    /// The backups the PITR window starts from (one per timeline it touches): without them some
    /// instants of the window could not be restored.
    public var pitrAnchors: Set<String> = []

    public var deletedBackups: [RetentionDecision] { decisions.filter { !$0.keep } }
    public var bytesFreed: Int64 { deletedBackups.reduce(0) { $0 + $1.storedBytes } + deletedWAL.reduce(0) { $0 + $1.bytes } }
}
