/// What the service knows of a stanza at one instant (`StatusProbe.probe`): the metrics, the
/// watchdog and `/healthz` read it. Instants are Unix seconds (UTC); a value Tidemark could not
/// learn is nil, with the reason in `errors` — never a made-up zero.
public struct StatusSnapshot: Sendable, Codable, Equatable {
    public var stanza: String
    /// When the probe ran (the engine's clock).
    public var takenAt: Double
    /// In configuration order.
    public var repositories: [RepositoryStatus]
    /// `takenAt` minus `rpoCommitTime`; nil when some required repository has no known commit.
    public var rpoSeconds: Double?
    /// The commit time of the newest WAL durable in every required repository: the minimum over
    /// required repositories of each one's newest archived commit.
    public var rpoCommitTime: Double?
    public var archive: ArchiveStatus
    /// What could not be learnt, by part (`repository.NAME`, `repository.NAME.free`,
    /// `archive.ready`, `server`, `rpo`): one line each, secrets never included.
    public var errors: [String: String]

    public init(stanza: String, takenAt: Double, repositories: [RepositoryStatus] = [], rpoSeconds: Double? = nil,
                rpoCommitTime: Double? = nil, archive: ArchiveStatus = ArchiveStatus(), errors: [String: String] = [:]) {
        self.stanza = stanza
        self.takenAt = takenAt
        self.repositories = repositories
        self.rpoSeconds = rpoSeconds
        self.rpoCommitTime = rpoCommitTime
        self.archive = archive
        self.errors = errors
    }

    /// Whether every required repository was read in full by this probe.
    public var requiredRepositoriesRead: Bool {
        repositories.filter(\.required).allSatisfy { $0.reachable && $0.error == nil }
    }
}

/// One repository as the probe saw it.
public struct RepositoryStatus: Sendable, Codable, Equatable {
    public var name: String
    public var type: String
    public var required: Bool
    /// The repository could be opened (its config read, the key unwrapped).
    public var reachable: Bool
    /// Why it could not be opened or read, or nil.
    public var error: String?
    /// Bytes the stanza's objects take: every WAL object listed plus each backup's stored bytes.
    public var usedBytes: Int64?
    /// Free bytes: statvfs of the directory (file system), or `quotaBytes - usedBytes` (S3 with a quota).
    public var freeBytes: Int64?
    /// The size of the file system (statvfs) or the S3 quota; nil when unknown.
    public var capacityBytes: Int64?
    public var walSegmentSize: UInt64?
    /// The newest whole segment archived (highest timeline, then highest segment).
    public var newestSegment: String?
    /// The newest commit archived on any timeline (Unix seconds), from the segments' summaries.
    public var newestCommitTime: Double?
    /// True when `newestCommitTime` is the previous probe's value, kept because this probe could
    /// not read the repository (what was durable then is durable still).
    public var newestCommitCarried: Bool
    public var timelines: [TimelineStatus]
    /// The newest complete backup of each type (`full`, `incremental`), by type name.
    public var newestBackups: [BackupStatus]
    /// The oldest backup's stop time (Unix seconds): the watchdog's window rule expects no more
    /// history than the backups span.
    public var oldestBackupFinishedAt: Double?

    public init(name: String, type: String, required: Bool, reachable: Bool = false, error: String? = nil,
                usedBytes: Int64? = nil, freeBytes: Int64? = nil, capacityBytes: Int64? = nil, walSegmentSize: UInt64? = nil,
                newestSegment: String? = nil, newestCommitTime: Double? = nil, newestCommitCarried: Bool = false,
                timelines: [TimelineStatus] = [], newestBackups: [BackupStatus] = []) {
        self.name = name
        self.type = type
        self.required = required
        self.reachable = reachable
        self.error = error
        self.usedBytes = usedBytes
        self.freeBytes = freeBytes
        self.capacityBytes = capacityBytes
        self.walSegmentSize = walSegmentSize
        self.newestSegment = newestSegment
        self.newestCommitTime = newestCommitTime
        self.newestCommitCarried = newestCommitCarried
        self.timelines = timelines
        self.newestBackups = newestBackups
    }
}

/// One timeline of one repository.
public struct TimelineStatus: Sendable, Codable, Equatable {
    public var timeline: UInt32
    /// The newest whole segment archived on this timeline.
    public var newestSegment: String?
    /// The restorable window that reaches the timeline's newest archived commit: from the end of
    /// the oldest backup whose WAL reaches the newest segment without a gap (Unix seconds).
    /// Nil when no backup reaches it.
    public var windowStart: Double?
    /// The newest archived commit on the timeline; nil when the archive does not say.
    public var windowEnd: Double?
    /// The backup the window starts from.
    public var windowBackup: String?
    /// Runs of missing segments along the timeline's history (`WALContinuity`, verify's rule).
    public var gaps: Int

    public init(timeline: UInt32, newestSegment: String? = nil, windowStart: Double? = nil, windowEnd: Double? = nil,
                windowBackup: String? = nil, gaps: Int = 0) {
        self.timeline = timeline
        self.newestSegment = newestSegment
        self.windowStart = windowStart
        self.windowEnd = windowEnd
        self.windowBackup = windowBackup
        self.gaps = gaps
    }
}

/// The newest complete backup of one type in one repository.
public struct BackupStatus: Sendable, Codable, Equatable {
    /// `full` or `incremental`.
    public var type: String
    public var id: String
    /// The backup's stop time (Unix seconds).
    public var finishedAt: Double
    public var durationSeconds: Double
    /// Bytes this backup added to the repository.
    public var storedBytes: Int64

    public init(type: String, id: String, finishedAt: Double, durationSeconds: Double, storedBytes: Int64) {
        self.type = type
        self.id = id
        self.finishedAt = finishedAt
        self.durationSeconds = durationSeconds
        self.storedBytes = storedBytes
    }
}

/// The server side of archiving: what PostgreSQL has not handed over yet.
public struct ArchiveStatus: Sendable, Codable, Equatable {
    /// `.ready` files in `<PGDATA>/pg_wal/archive_status`: segments waiting for archive_command.
    public var readySegments: Int?
    /// The oldest of them (the one archive_command is stuck on when it fails).
    public var oldestReady: String?
    /// The segment the server writes now (`pg_walfile_name(pg_current_wal_lsn())`).
    public var serverSegment: String?
    /// The newest segment archived in every required repository.
    public var archivedSegment: String?
    /// Completed segments between `archivedSegment` and `serverSegment` (the one being written
    /// does not count); nil unless both are known.
    public var segmentsBehind: Int?
    /// `pg_stat_archiver.failed_count` (since the server's statistics were last reset).
    public var serverFailedCount: Int64?
    public var lastFailedWAL: String?

    public init(readySegments: Int? = nil, oldestReady: String? = nil, serverSegment: String? = nil,
                archivedSegment: String? = nil, segmentsBehind: Int? = nil, serverFailedCount: Int64? = nil,
                lastFailedWAL: String? = nil) {
        self.readySegments = readySegments
        self.oldestReady = oldestReady
        self.serverSegment = serverSegment
        self.archivedSegment = archivedSegment
        self.segmentsBehind = segmentsBehind
        self.serverFailedCount = serverFailedCount
        self.lastFailedWAL = lastFailedWAL
    }
}
