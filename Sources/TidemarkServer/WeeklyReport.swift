#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tidemark
import TidemarkCore
import TidemarkNotify

/// The weekly report: backups of the last seven days, their sizes, the repositories' growth,
/// the PITR window and the last rehearsal's RTO.
public struct WeeklyReport: Sendable {
    public var backups: [BackupListEntry]
    public var storage: [ServiceState.StorageSample]
    public var outlook: RecoveryOutlook
    public var lastRehearsalRTOSeconds: Double?
    public var lastRehearsal: Date?
    public var openIncidents: [String]

    public init(backups: [BackupListEntry], storage: [ServiceState.StorageSample], outlook: RecoveryOutlook,
                lastRehearsalRTOSeconds: Double?, lastRehearsal: Date?, openIncidents: [String]) {
        self.backups = backups
        self.storage = storage
        self.outlook = outlook
        self.lastRehearsalRTOSeconds = lastRehearsalRTOSeconds
        self.lastRehearsal = lastRehearsal
        self.openIncidents = openIncidents
    }

    /// The report as a notification, for the seven days ending at `now`.
    public func notification(_ messages: ServiceMessages, now: Date) -> TidemarkNotify.Notification {
        let since = now.addingTimeInterval(-7 * 86400)
        let recent = backups.filter { entry in
            guard let t = try? PostgresTimestamp(parsing: entry.stopTime) else { return false }
            return Double(t.unixSeconds) >= since.timeIntervalSince1970
        }
        var body = "Backups in the last 7 days: \(recent.count)"
        let byType = Dictionary(grouping: recent, by: \.type)
        if !byType.isEmpty {
            body += " (" + byType.keys.sorted().map { "\(byType[$0]?.count ?? 0) \($0)" }.joined(separator: ", ") + ")"
        }
        body += "\n"
        for entry in recent.suffix(20) {
            body += "- \(entry.id) \(entry.type) in '\(entry.repository)': \(formatBytes(entry.size)) of data, \(formatBytes(entry.storedSize)) stored, \(String(format: "%.0f", entry.durationSeconds)) s\n"
        }
        if let growth = growthLines(now: now), !growth.isEmpty { body += "\nRepository size and growth over the week:\n" + growth }
        body += "\nPITR: \(outlook.sentence)\n"
        if let rto = lastRehearsalRTOSeconds, let at = lastRehearsal {
            body += "Last successful rehearsal: \(ServiceMessages.time(at)), RTO \(ServiceMessages.duration(rto)).\n"
        } else {
            body += "No successful rehearsal is on record: run `tidemark rehearse` (the monthly job does).\n"
        }
        body += openIncidents.isEmpty ? "No open problems.\n" : "Open problems:\n" + openIncidents.map { "- \($0)\n" }.joined()
        return messages.make(.report, openIncidents.isEmpty ? .info : .warning, "weekly report: \(recent.count) backup(s)", body,
                             [("backups", "\(recent.count)"), ("open problems", "\(openIncidents.count)")], key: nil, at: now)
    }

    /// Each repository's newest size, and its change against the sample nearest a week earlier.
    func growthLines(now: Date) -> String? {
        guard let newest = storage.last else { return nil }
        let weekAgo = now.addingTimeInterval(-7 * 86400)
        let old = storage.min { abs($0.time.timeIntervalSince(weekAgo)) < abs($1.time.timeIntervalSince(weekAgo)) }
        var text = ""
        for (name, bytes) in newest.bytes.sorted(by: { $0.key < $1.key }) {
            text += "- \(name): \(formatBytes(bytes))"
            if let old, old.time < newest.time, let before = old.bytes[name] {
                let delta = bytes - before
                text += " (\(delta >= 0 ? "+" : "-")\(formatBytes(abs(delta))) since \(ServiceMessages.time(old.time)))"
            }
            text += "\n"
        }
        return text
    }
}
