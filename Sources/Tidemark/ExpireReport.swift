import TidemarkCore
import TidemarkPolicy

/// `tidemark expire --json` (docs/expire-json.md). Field names are an interface.
public struct ExpireReport: Codable, Sendable {
    public var dryRun: Bool
    /// The instant the policy was evaluated at (`--as-of`), or null for the newest archived commit.
    public var asOf: String?
    /// Hash of every repository's plan: `expire --apply HASH` runs exactly this plan.
    public var planHash: String
    public var repositories: [ExpireRepositoryReport]
}

public struct ExpireRepositoryReport: Codable, Sendable {
    public var repository: String
    public var location: String
    public var policy: RetentionPolicy
    /// Why nothing is deleted in this repository (failing backups, no backup), or null.
    public var hold: String?
    /// The PITR window this run keeps restorable, UTC ISO 8601.
    public var windowStart: String?
    public var windowEnd: String?
    public var backups: [ExpireBackup]
    public var walDeleted: [ExpireWALRange]
    public var walKept: [ExpireWALRange]
    /// Deletions an earlier, interrupted run started (backup ids): finished first.
    public var resumed: [String]
    /// Objects the store refuses to delete yet (S3 Object Lock): left alone, with the instant
    /// they become deletable.
    public var locked: [ExpireLockedObject]
    public var backupsDeleted: Int
    public var segmentsDeleted: Int
    public var objectsDeleted: Int
    public var bytesFreed: Int64
    public var windowsBefore: [ExpireWindow]
    public var windowsAfter: [ExpireWindow]
    public var planHash: String
    /// Why this repository could not be expired, or null.
    public var error: String?
}

public struct ExpireBackup: Codable, Sendable, Equatable {
    public var id: String
    public var type: String
    public var endTime: String
    public var keep: Bool
    public var reasons: [String]
    public var storedBytes: Int64
}

/// A run of segments of one timeline, by file name.
public struct ExpireWALRange: Codable, Sendable, Equatable {
    public var timeline: UInt32
    public var from: String
    public var to: String
    public var segments: Int
    public var bytes: Int64
}

public struct ExpireLockedObject: Codable, Sendable, Equatable {
    public var key: String
    public var retainUntil: String
}

public struct ExpireWindow: Codable, Sendable, Equatable {
    public var timeline: UInt32
    public var backup: String
    public var from: String
    /// The newest archived commit on the timeline, or null when the archive does not say.
    public var until: String?
}

extension ExpireWALRange {
    init(_ r: SegmentRange, size: WALSegmentSize) {
        timeline = r.timeline.rawValue
        from = WALSegmentName(timeline: r.timeline, segment: r.first, size: size).description
        to = WALSegmentName(timeline: r.timeline, segment: r.last, size: size).description
        segments = r.segments
        bytes = r.bytes
    }
}

extension ExpireWindow {
    init(_ w: RetentionWindow) {
        timeline = w.timeline.rawValue
        backup = w.backup
        from = PostgresTimestamp(unixSeconds: w.from).iso8601
        until = w.until.map { PostgresTimestamp(unixSeconds: $0).iso8601 }
    }
}
