#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCore
import TidemarkPolicy

/// What `tidemark schedule` prints: every job, its cron expression, its next five runs and
/// its last outcome (JSON: docs/service.md).
public struct ScheduleView: Codable, Sendable {
    public struct Last: Codable, Sendable {
        public var outcome: String
        public var started: String?
        public var finished: String?
        public var durationSeconds: Double?
        public var late: Bool?
        public var error: String?
        public var hints: [String]?
    }
    public struct Job: Codable, Sendable {
        public var name: String
        public var type: String
        public var description: String
        public var cron: String
        public var enabled: Bool
        public var timeoutMinutes: Double
        /// The next five fire times (RFC 3339, UTC); empty when disabled.
        public var next: [String]
        public var last: Last?
    }
    public var timeZone: String
    public var catchUpHours: Double
    public var jobs: [Job]

    public init(settings: ServiceSettings, state: ServiceState, now: Date) {
        let s = settings.schedule
        timeZone = s.timeZoneName
        catchUpHours = s.catchUp / 3600
        jobs = s.jobs.map { job in
            let record = state.jobs[job.name]
            let last = record.flatMap { r -> Last? in
                guard let outcome = r.lastOutcome else { return nil }
                return Last(outcome: outcome, started: r.lastStarted.map(ServiceMessages.time), finished: r.lastFinished.map(ServiceMessages.time),
                            durationSeconds: r.lastDurationSeconds, late: r.lastLate, error: r.lastError, hints: r.lastHints)
            }
            return Job(name: job.name, type: job.kind.typeName, description: job.typeDescription, cron: job.cron.description,
                       enabled: job.enabled, timeoutMinutes: job.timeout.seconds / 60,
                       next: job.enabled ? job.schedule.nextRuns(after: now, count: 5).map(ServiceMessages.time) : [], last: last)
        }
    }

    public func rendered() -> String {
        var out = "schedule (cron in \(timeZone); missed runs caught up within \(String(format: "%g", catchUpHours)) h)\n"
        for j in jobs {
            out += "\n\(j.name): \(j.description), cron '\(j.cron)', time limit \(String(format: "%g", j.timeoutMinutes)) min"
            out += j.enabled ? "\n" : " (disabled: run-job only)\n"
            if !j.next.isEmpty { out += "  next: " + j.next.joined(separator: ", ") + "\n" }
            if let l = j.last {
                out += "  last: \(l.outcome)" + (l.started.map { " at \($0)" } ?? "")
                    + (l.durationSeconds.map { String(format: " in %.1f s", $0) } ?? "") + ((l.late ?? false) ? " (late)" : "") + "\n"
                if let e = l.error, l.outcome != "succeeded" { out += "  error: \(e)\n" }
            } else {
                out += "  last: never ran\n"
            }
        }
        return out
    }
}
