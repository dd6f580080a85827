import TidemarkCore
import TidemarkFiles
import TidemarkPolicy

/// The file-backup part of one repository's `expire --json` report (docs/expire-json.md,
/// `files`): null when the repository holds no file backups. As for database backups, the
/// counts are what the plan will delete and rewrite; a run replaces them with what it did.
public struct ExpireFilesReport: Codable, Sendable, Equatable {
    /// Why no file snapshot is deleted (file backups failing), or null.
    public var hold: String?
    /// Every file snapshot, oldest first.
    public var snapshots: [ExpireFileSnapshot]
    public var snapshotsDeleted: Int
    /// Packs whose every chunk is unreferenced, deleted; packs mostly unreferenced, rewritten
    /// (their live chunks copied into new packs).
    public var packsDeleted: Int
    public var packsRewritten: Int
    public var bytesCopied: Int64
    public var bytesFreed: Int64
    /// Why the file part of this repository could not be expired, or null (the database part
    /// has its own `error`).
    public var error: String?

    package init(snapshots: [FilesSnapshot], plan: FilesRetention.Plan) {
        let byID = Dictionary(snapshots.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        hold = plan.hold
        self.snapshots = plan.decisions.map { ExpireFileSnapshot($0, byID[$0.id]) }
        snapshotsDeleted = plan.deleted.count
        packsDeleted = 0
        packsRewritten = 0
        bytesCopied = 0
        bytesFreed = 0
        error = nil
    }

    package mutating func fill(_ outcome: FilesExpireRun.Outcome, dryRun: Bool) {
        if !dryRun { snapshotsDeleted = outcome.snapshotsDeleted }
        packsDeleted = outcome.prune.plan.delete.count
        packsRewritten = outcome.prune.plan.rewrite.count
        bytesCopied = outcome.prune.plan.bytesCopied
        bytesFreed = outcome.prune.plan.bytesFreed
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(hold, forKey: .hold)
        try c.encode(snapshots, forKey: .snapshots)
        try c.encode(snapshotsDeleted, forKey: .snapshotsDeleted)
        try c.encode(packsDeleted, forKey: .packsDeleted)
        try c.encode(packsRewritten, forKey: .packsRewritten)
        try c.encode(bytesCopied, forKey: .bytesCopied)
        try c.encode(bytesFreed, forKey: .bytesFreed)
        try c.encode(error, forKey: .error)
    }
}

public struct ExpireFileSnapshot: Codable, Sendable, Equatable {
    public var id: String
    /// When the file backup started, UTC ISO 8601.
    public var time: String
    public var kind: String
    public var label: String?
    public var databaseBackup: String?
    public var keep: Bool
    public var reasons: [String]

    init(_ d: FilesRetention.Decision, _ s: FilesSnapshot?) {
        id = d.id
        time = s.map { PostgresTimestamp(unixSeconds: FilesExpireRun.seconds($0.time)).iso8601 } ?? ""
        kind = s?.kind.name ?? ""
        label = s?.label
        databaseBackup = s?.databaseBackupID
        keep = d.keep
        reasons = d.reasons
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(time, forKey: .time)
        try c.encode(kind, forKey: .kind)
        try c.encode(label, forKey: .label)
        try c.encode(databaseBackup, forKey: .databaseBackup)
        try c.encode(keep, forKey: .keep)
        try c.encode(reasons, forKey: .reasons)
    }
}
