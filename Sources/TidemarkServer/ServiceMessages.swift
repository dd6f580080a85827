#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCore
import TidemarkNotify
import TidemarkPolicy

/// What recovery can do right now, for the sentence every failure message ends with.
public struct RecoveryOutlook: Sendable, Equatable {
    /// The newest backup's finish (the newest restore point a restore can start from).
    public var newestBackup: Date?
    /// The newest commit archived in every required repository (PITR reaches up to it).
    public var pitrUntil: Date?
    /// The start of the restorable window that ends at `pitrUntil`.
    public var windowStart: Date?

    public init(newestBackup: Date? = nil, pitrUntil: Date? = nil, windowStart: Date? = nil) {
        self.newestBackup = newestBackup
        self.pitrUntil = pitrUntil
        self.windowStart = windowStart
    }

    /// "No new restore point since …; PITR still possible from … up to …."
    public var sentence: String {
        var parts: [String] = []
        if let b = newestBackup {
            parts.append("no new restore point since \(ServiceMessages.time(b)) (the newest backup)")
        } else {
            parts.append("there is no backup to restore from")
        }
        if let until = pitrUntil {
            parts.append("PITR still possible " + (windowStart.map { "from \(ServiceMessages.time($0)) " } ?? "") + "up to \(ServiceMessages.time(until))")
        } else {
            parts.append("no archived commit is known: point-in-time recovery has nothing to reach")
        }
        return parts.joined(separator: "; ") + "."
    }
}

/// The texts of the service's messages: what failed, why, what to do, what it means for recovery.
public struct ServiceMessages: Sendable {
    public var stanza: String
    public var host: String

    public init(stanza: String, host: String) {
        self.stanza = stanza
        self.host = host
    }

    static func time(_ d: Date) -> String {
        PostgresTimestamp(unixSeconds: Int64(d.timeIntervalSince1970.rounded(.down))).iso8601
    }

    static func duration(_ seconds: Double) -> String {
        if seconds < 120 { return String(format: "%.1f s", seconds) }
        if seconds < 7200 { return String(format: "%.0f min", seconds / 60) }
        return String(format: "%.1f h", seconds / 3600)
    }

    func make(_ kind: Notification.Kind, _ severity: Notification.Severity, _ title: String, _ body: String,
              _ fields: [(String, String)], key: String?, at now: Date) -> TidemarkNotify.Notification {
        Notification(kind: kind, severity: severity, title: "tidemark \(stanza)@\(host): " + title, body: body,
                     fields: fields.map { Notification.Field($0.0, $0.1) }, stanza: stanza, host: host,
                     time: now, incidentKey: key)
    }

    /// A job that failed (sent at once, once per incident).
    public func jobFailed(_ r: JobResult, type: String, outlook: RecoveryOutlook, now: Date) -> TidemarkNotify.Notification {
        var body = "\(r.error ?? "the job failed")\n"
        for h in r.hints { body += "HINT: \(h)\n" }
        body += "\nWhat it means for recovery: \(outlook.sentence)\n"
        if r.late { body += "\nThis run was late: it was due at \(Self.time(r.scheduledFor)) while the service was down.\n" }
        var fields: [(String, String)] = [("job", r.job), ("type", type), ("outcome", r.outcome.rawValue),
                                          ("started", Self.time(r.started)), ("duration", Self.duration(r.duration))]
        if let code = r.exitCode { fields.append(("exit code", "\(code)")) }
        return make(.failure, .critical, "\(type) job '\(r.job)' \(r.outcome == .timedOut ? "timed out" : "failed")", body, fields,
                    key: "job.\(r.job)", at: now)
    }

    /// The job works again after an incident.
    public func jobRecovered(_ r: JobResult, failingSince: Date, now: Date) -> TidemarkNotify.Notification {
        let body = "The job '\(r.job)' succeeded at \(Self.time(r.finished)) after failing since \(Self.time(failingSince)).\n"
            + (r.late ? "This run was late: it was due at \(Self.time(r.scheduledFor)).\n" : "")
        return make(.resolved, .info, "job '\(r.job)' works again", body,
                    [("job", r.job), ("failing since", Self.time(failingSince)), ("duration", Self.duration(r.duration))],
                    key: "job.\(r.job)", at: now)
    }

    /// A watchdog condition that just appeared.
    public func alertOpened(_ c: Condition, outlook: RecoveryOutlook, now: Date) -> TidemarkNotify.Notification {
        var body = c.summary + "\n"
        if !c.detail.isEmpty { body += c.detail + "\n" }
        body += "HINT: \(c.hint)\n\nWhat it means for recovery: \(outlook.sentence)\n"
        return make(.alert, c.severity == .critical ? .critical : .warning, c.summary, body, [("check", c.key)], key: c.key, at: now)
    }

    /// A watchdog condition that cleared.
    public func alertResolved(_ c: Condition, since: Date, now: Date) -> TidemarkNotify.Notification {
        make(.resolved, .info, "resolved: \(c.summary)",
             "Resolved at \(Self.time(now)), open since \(Self.time(since)): \(c.summary)\n", [("check", c.key)], key: c.key, at: now)
    }

    /// One message with the day's successes.
    public func dailySummary(_ successes: [ServiceState.Success], openIncidents: [String], outlook: RecoveryOutlook,
                             now: Date) -> TidemarkNotify.Notification {
        var body = successes.isEmpty ? "No job succeeded since the last summary.\n" : "Succeeded since the last summary:\n"
        for s in successes {
            body += "- \(s.job) at \(Self.time(s.finished)) in \(Self.duration(s.durationSeconds))" + (s.detail.map { ": \($0)" } ?? "") + "\n"
        }
        body += openIncidents.isEmpty ? "\nNo open problems.\n" : "\nStill open:\n" + openIncidents.map { "- \($0)\n" }.joined()
        body += "\nRecovery: \(outlook.sentence)\n"
        return make(.summary, openIncidents.isEmpty ? .info : .warning, "daily summary: \(successes.count) job(s) succeeded",
                    body, [("succeeded", "\(successes.count)"), ("open problems", "\(openIncidents.count)")], key: nil, at: now)
    }
}

/// Foundation has a `Notification` too; in this module the name is the notifier's.
typealias Notification = TidemarkNotify.Notification
