import Foundation

/// The configuration's `alerts` section: when absence becomes an alert.
public struct AlertThresholds: Sendable, Equatable, Codable {
    /// No successful backup for longer than this (default 26 h: a daily backup and some slack).
    public var maxBackupAge: TimeInterval
    /// Nothing archived for longer than this while completed segments wait (default 30 min).
    public var maxArchiveSilence: TimeInterval
    /// More `.ready` files than this in `pg_wal/archive_status` (default 64).
    public var maxReadySegments: Int
    /// Repository storage used above this percentage of its capacity (default 80).
    public var storagePercent: Double

    public init(maxBackupAge: TimeInterval = 26 * 3600, maxArchiveSilence: TimeInterval = 30 * 60,
                maxReadySegments: Int = 64, storagePercent: Double = 80) {
        self.maxBackupAge = maxBackupAge
        self.maxArchiveSilence = maxArchiveSilence
        self.maxReadySegments = maxReadySegments
        self.storagePercent = storagePercent
    }
}

/// One repository's storage: statvfs for a file system, `quotaBytes` for S3.
public struct StorageUse: Sendable, Equatable {
    public var repository: String
    public var usedBytes: Int64
    /// Nil when the repository has no known capacity (S3 without `quotaBytes`): not checked.
    public var capacityBytes: Int64?

    public init(repository: String, usedBytes: Int64, capacityBytes: Int64?) {
        self.repository = repository
        self.usedBytes = usedBytes
        self.capacityBytes = capacityBytes
    }
}

/// What the watchdog's probes saw, at `now`. A nil figure means "not known" and its rule is
/// not evaluated (the probe that failed says why, in `probeErrors`).
public struct WatchdogObservation: Sendable {
    public var now: Date
    /// The end of the newest successful backup; nil when there has never been one.
    public var lastSuccessfulBackup: Date?
    /// When the newest WAL durable in every required repository was archived; nil: never.
    public var lastArchived: Date?
    /// The server's current segment minus the newest archived, minus 1: completed segments
    /// not yet archived. Nil when the server is unreachable.
    public var unarchivedCompletedSegments: Int?
    /// `.ready` files in `pg_wal/archive_status`; nil when they could not be counted.
    public var readySegments: Int?
    /// The restorable window (from the oldest restorable instant to the newest). A repository
    /// with backups but no usable WAL has a zero-length window at its backup's end; nil means
    /// not known and the rule is skipped.
    public var restorableWindow: (start: Date, end: Date)?
    /// The PITR window the configuration promises (its days, in seconds).
    public var promisedWindow: TimeInterval
    /// The end of the oldest backup kept; nil when there is none.
    public var oldestBackup: Date?
    public var storage: [StorageUse]
    /// Probes that failed: what (a short name, e.g. "server", "repository.s3") → the error.
    public var probeErrors: [String: String]

    public init(now: Date, lastSuccessfulBackup: Date? = nil, lastArchived: Date? = nil,
                unarchivedCompletedSegments: Int? = nil, readySegments: Int? = nil,
                restorableWindow: (start: Date, end: Date)? = nil, promisedWindow: TimeInterval = 0,
                oldestBackup: Date? = nil, storage: [StorageUse] = [], probeErrors: [String: String] = [:]) {
        self.now = now
        self.lastSuccessfulBackup = lastSuccessfulBackup
        self.lastArchived = lastArchived
        self.unarchivedCompletedSegments = unarchivedCompletedSegments
        self.readySegments = readySegments
        self.restorableWindow = restorableWindow
        self.promisedWindow = promisedWindow
        self.oldestBackup = oldestBackup
        self.storage = storage
        self.probeErrors = probeErrors
    }
}

/// How bad a condition is.
public enum Severity: String, Sendable, Equatable, Codable, Comparable {
    /// Recovery still works, but will not for long if nothing is done.
    case warning
    /// Recovery is already worse than promised (no new restore point, WAL not kept).
    case critical

    private var rank: Int { self == .warning ? 0 : 1 }
    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// One thing wrong, as the watchdog (or a failed job) reports it. `key` is stable across
/// evaluations — it is what makes "the same incident"; the texts may change with the figures.
public struct Condition: Sendable, Equatable, Codable {
    /// "backup.stale", "archive.silent", "archive.backlog", "window.short",
    /// "storage.full.<repository>", "probe.<what>" (jobs use their own keys).
    public var key: String
    public var severity: Severity
    /// One line with the figures, for a chat message or a mail subject.
    public var summary: String
    /// What it means for recovery.
    public var detail: String
    /// What to do.
    public var hint: String

    public init(key: String, severity: Severity, summary: String, detail: String, hint: String) {
        self.key = key
        self.severity = severity
        self.summary = summary
        self.detail = detail
        self.hint = hint
    }
}
