#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCore
import TidemarkPolicy

/// One job of the schedule, resolved: what it runs, when, and for how long at most.
public struct ServiceJob: Sendable {
    public enum Kind: Sendable, Hashable {
        case backup(full: Bool, pinMonths: Int?)
        case expire
        case verify(full: Bool, samplePercent: Double?)
        case rehearse

        /// The name of the job's type in the configuration and in `schedule --json`.
        public var typeName: String {
            switch self {
            case .backup: return "backup"
            case .expire: return "expire"
            case .verify: return "verify"
            case .rehearse: return "rehearse"
            }
        }

        /// The `tidemark` command line the job runs (after the global options).
        public var arguments: [String] {
            switch self {
            case .backup(let full, _): return ["backup", "--type", full ? "full" : "incremental"]
            case .expire: return ["expire"]
            case .verify(let full, let sample):
                return ["verify"] + (full ? ["--full"] : []) + (sample.map { ["--sample-percent", String($0)] } ?? [])
            case .rehearse: return ["rehearse", "--json"]
            }
        }

        /// The time limit when the configuration gives none.
        public var defaultTimeoutMinutes: Double {
            switch self {
            case .backup(let full, _): return full ? 480 : 240
            case .expire: return 60
            case .verify: return 240
            case .rehearse: return 240
            }
        }
    }

    public var name: String
    public var kind: Kind
    public var cron: CronExpression
    public var schedule: CronSchedule
    public var timeout: Duration
    /// false: only `run-job` runs it.
    public var enabled: Bool
    /// Backup jobs: after the database backup, back up the file storage too (`files backup
    /// --database-backup ID`, `filesFollowUp`); the job succeeds only when both do.
    public var includeFiles: Bool

    public init(name: String, kind: Kind, cron: CronExpression, schedule: CronSchedule, timeout: Duration, enabled: Bool,
                includeFiles: Bool) {
        self.name = name
        self.kind = kind
        self.cron = cron
        self.schedule = schedule
        self.timeout = timeout
        self.enabled = enabled
        self.includeFiles = includeFiles
    }

    /// What `tidemark schedule` shows as the job's type: "backup (incremental)", "verify (full)", …
    public var typeDescription: String {
        switch kind {
        case .backup(let full, let pin):
            return "backup (\(full ? "full" : "incremental")\(pin.map { ", pinned \($0) months" } ?? "")\(includeFiles ? ", with files" : ""))"
        case .verify(let full, _): return full ? "verify (full)" : "verify"
        default: return kind.typeName
        }
    }
}

/// The guide's schedule: incremental daily 03:00, full Sunday 02:00, the monthly archival full
/// on the 1st at 01:00 (pinned 12 months), expire daily 04:00, verify daily 05:00, rehearsal
/// the first Monday of each month at 06:00.
public enum DefaultJobs {
    public static let definitions: [(name: String, kind: ServiceJob.Kind, cron: String)] = [
        ("incremental", .backup(full: false, pinMonths: nil), "0 3 * * *"),
        ("full", .backup(full: true, pinMonths: nil), "0 2 * * 0"),
        ("monthly", .backup(full: true, pinMonths: 12), "0 1 1 * *"),
        ("expire", .expire, "0 4 * * *"),
        ("verify", .verify(full: false, samplePercent: nil), "0 5 * * *"),
        ("rehearse", .rehearse, "0 6 * * 1#1"),
    ]
}
