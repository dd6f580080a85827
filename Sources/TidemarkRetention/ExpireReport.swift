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

    package init(dryRun: Bool, asOf: String?, planHash: String, repositories: [ExpireRepositoryReport]) {
        self.dryRun = dryRun
        self.asOf = asOf
        self.planHash = planHash
        self.repositories = repositories
    }
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
    /// File snapshots and their packs (ExpireFilesReport), or null when the repository holds
    /// no file backups.
    public var files: ExpireFilesReport? = nil
}

public struct ExpireBackup: Codable, Sendable, Equatable {
    public var id: String
    public var type: String
    public var endTime: String
    public var keep: Bool
    public var reasons: [String]
    public var storedBytes: Int64

    package init(_ d: RetentionDecision, facts: ExpireRun.BackupFacts?) {
        id = d.id
        type = facts?.type.rawValue ?? ""
        endTime = facts?.stopTime ?? ""
        keep = d.keep
        reasons = d.reasons
        storedBytes = d.storedBytes
    }
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
    package init(_ r: SegmentRange, size: WALSegmentSize) {
        timeline = r.timeline.rawValue
        from = WALSegmentName(timeline: r.timeline, segment: r.first, size: size).description
        to = WALSegmentName(timeline: r.timeline, segment: r.last, size: size).description
        segments = r.segments
        bytes = r.bytes
    }
}

extension ExpireWindow {
    package init(_ w: RetentionWindow) {
        timeline = w.timeline.rawValue
        backup = w.backup
        from = PostgresTimestamp(unixSeconds: w.from).iso8601
        until = w.until.map { PostgresTimestamp(unixSeconds: $0).iso8601 }
    }
}

// Optional fields are written as null, not left out: the JSON is documented field by field.
extension ExpireReport {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dryRun, forKey: .dryRun)
        try c.encode(asOf, forKey: .asOf)
        try c.encode(planHash, forKey: .planHash)
        try c.encode(repositories, forKey: .repositories)
    }
}

extension ExpireRepositoryReport {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(repository, forKey: .repository)
        try c.encode(location, forKey: .location)
        try c.encode(ExpirePolicy(policy), forKey: .policy)
        try c.encode(hold, forKey: .hold)
        try c.encode(windowStart, forKey: .windowStart)
        try c.encode(windowEnd, forKey: .windowEnd)
        try c.encode(backups, forKey: .backups)
        try c.encode(walDeleted, forKey: .walDeleted)
        try c.encode(walKept, forKey: .walKept)
        try c.encode(resumed, forKey: .resumed)
        try c.encode(locked, forKey: .locked)
        try c.encode(backupsDeleted, forKey: .backupsDeleted)
        try c.encode(segmentsDeleted, forKey: .segmentsDeleted)
        try c.encode(objectsDeleted, forKey: .objectsDeleted)
        try c.encode(bytesFreed, forKey: .bytesFreed)
        try c.encode(windowsBefore, forKey: .windowsBefore)
        try c.encode(windowsAfter, forKey: .windowsAfter)
        try c.encode(planHash, forKey: .planHash)
        try c.encode(error, forKey: .error)
        try c.encode(files, forKey: .files)
    }
}

/// The policy as the JSON shows it (`timeZone` null for UTC).
struct ExpirePolicy: Encodable {
    var policy: RetentionPolicy
    init(_ policy: RetentionPolicy) { self.policy = policy }
    enum CodingKeys: String, CodingKey { case daily, weekly, monthly, yearly, pitrDays, minFullChains, timeZone }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(policy.daily, forKey: .daily)
        try c.encode(policy.weekly, forKey: .weekly)
        try c.encode(policy.monthly, forKey: .monthly)
        try c.encode(policy.yearly, forKey: .yearly)
        try c.encode(policy.pitrDays, forKey: .pitrDays)
        try c.encode(policy.minFullChains, forKey: .minFullChains)
        try c.encode(policy.timeZone, forKey: .timeZone)
    }
}

extension ExpireWindow {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(timeline, forKey: .timeline)
        try c.encode(backup, forKey: .backup)
        try c.encode(from, forKey: .from)
        try c.encode(until, forKey: .until)
    }
}
