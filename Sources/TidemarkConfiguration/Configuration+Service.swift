import TidemarkNotify

/// The sections of the config file that only `tidemark serve`, `schedule`, `run-job` and
/// `notify` read, as written (every field optional; docs/service.md). TidemarkServer resolves
/// them: cron expressions, the default jobs, thresholds, channels.
public struct ScheduleSection: Codable, Sendable, Hashable {
    /// Zone the cron expressions are read in (IANA name; default UTC).
    public var timeZone: String?
    /// A run missed while the service was down runs once at start if it is this recent (default 6).
    public var catchUpHours: Double?
    /// Include the default jobs (incremental, full, monthly, expire, verify, rehearse; default true).
    /// A job of `jobs` with a default job's name replaces it.
    public var defaults: Bool?
    public var jobs: [JobSection]?
    /// When the daily summary of successes is sent (cron; default "0 8 * * *"); "" turns it off.
    public var dailySummary: String?
    /// When the weekly report is sent (cron; default "0 8 * * 1"); "" turns it off.
    public var weeklyReport: String?

    package enum CodingKeys: String, CodingKey, CaseIterable {
        case timeZone, catchUpHours, defaults, jobs, dailySummary, weeklyReport
    }

    public init() {}
}

/// One job of `schedule.jobs`.
public struct JobSection: Codable, Sendable, Hashable {
    public var name: String?
    /// backup, expire, verify or rehearse.
    public var type: String?
    /// Five cron fields or @daily, @weekly, …
    public var cron: String?
    /// For backup jobs: full or incremental.
    public var backupType: String?
    /// For backup jobs: pin the backup for this many months (the monthly archival full).
    public var pinMonths: Int?
    /// For backup jobs: also back up the file storage (when that feature exists).
    public var includeFiles: Bool?
    /// For verify jobs: decode every object again (`verify --full`).
    public var full: Bool?
    /// For verify jobs: the share of proven objects re-read (`verify --sample-percent`).
    public var samplePercent: Double?
    /// The job's time limit (defaults per type: docs/service.md).
    public var timeoutMinutes: Double?
    /// false: the job is defined but never runs on its own (run-job still runs it).
    public var enabled: Bool?

    package enum CodingKeys: String, CodingKey, CaseIterable {
        case name, type, cron, backupType, pinMonths, includeFiles, full, samplePercent, timeoutMinutes, enabled
    }

    public init() {}
}

/// `alerts`: the watchdog's thresholds.
public struct AlertsSection: Codable, Sendable, Hashable {
    public var maxBackupAgeHours: Double?
    public var maxArchiveSilenceMinutes: Double?
    public var maxReadySegments: Int?
    public var storagePercent: Double?
    /// Seconds between two watchdog checks (default 60).
    public var checkIntervalSeconds: Double?

    package enum CodingKeys: String, CodingKey, CaseIterable {
        case maxBackupAgeHours, maxArchiveSilenceMinutes, maxReadySegments, storagePercent, checkIntervalSeconds
    }

    public init() {}
}

/// `serve`: the service's own settings.
public struct ServeSection: Codable, Sendable, Hashable {
    /// ADDRESS:PORT for /metrics and /healthz (default 127.0.0.1:8470).
    public var listen: String?
    /// File holding the bearer token /metrics requires (default: one the service creates, 0600).
    public var metricsTokenFile: String?
    /// The PostgreSQL data directory, for the `.ready` backlog (default: PGDATA).
    public var dataDirectory: String?
    /// Where the service keeps its state (last runs, open incidents; default ~/.local/state/tidemark).
    public var stateDirectory: String?

    package enum CodingKeys: String, CodingKey, CaseIterable { case listen, metricsTokenFile, dataDirectory, stateDirectory }

    public init() {}
}

/// `audit`: the local mirror of the audit log.
public struct AuditSection: Codable, Sendable, Hashable {
    /// The local JSON-lines mirror (default ~/.local/state/tidemark/audit/<stanza>.jsonl).
    public var mirrorPath: String?

    package enum CodingKeys: String, CodingKey, CaseIterable { case mirrorPath }

    public init() {}
}

/// The service sections as the file gave them.
public struct ServiceSections: Sendable {
    public var schedule: ScheduleSection?
    public var alerts: AlertsSection?
    public var serve: ServeSection?
    public var audit: AuditSection?
    public var notifications: NotificationsSection?
    public var smtp: SMTPSection?
    public var archiver: ArchiverSection?
    public var api: APISection?

    public init(schedule: ScheduleSection? = nil, alerts: AlertsSection? = nil, serve: ServeSection? = nil,
                audit: AuditSection? = nil, notifications: NotificationsSection? = nil, smtp: SMTPSection? = nil,
                archiver: ArchiverSection? = nil, api: APISection? = nil) {
        self.archiver = archiver
        self.api = api
        self.schedule = schedule
        self.alerts = alerts
        self.serve = serve
        self.audit = audit
        self.notifications = notifications
        self.smtp = smtp
    }
}
