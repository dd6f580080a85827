import Foundation

/// The absence rules (issue 14, "Notifications"): what is wrong now, judged from one
/// observation. Pure: the probes and the clock are the caller's; the same observation always
/// gives the same conditions, in a fixed order (backup, archive, window, storage by
/// repository as given, probes by name). The incident tracker turns them into alerts.
public enum Watchdog {
    /// How much shorter than expected the restorable window may be before it is an alert.
    public static let windowTolerance = 0.10
    /// Storage use at or above this percentage is critical, not a warning.
    public static let storageCriticalPercent = 95.0

    public static func evaluate(_ observation: WatchdogObservation, _ thresholds: AlertThresholds) -> [Condition] {
        var conditions: [Condition] = []
        if let c = staleBackup(observation, thresholds) { conditions.append(c) }
        if let c = silentArchive(observation, thresholds) { conditions.append(c) }
        if let c = archiveBacklog(observation, thresholds) { conditions.append(c) }
        if let c = shortWindow(observation) { conditions.append(c) }
        conditions += observation.storage.compactMap { fullStorage($0, thresholds) }
        conditions += observation.probeErrors.sorted { $0.key < $1.key }.map { what, message in
            Condition(key: "probe.\(what)", severity: .warning,
                      summary: "unable to check \(what): \(message)",
                      detail: "the watchdog cannot tell whether \(what) is healthy, so an alert about it may be missing",
                      hint: "fix the cause above; `tidemark check` tests the server and every repository")
        }
        return conditions
    }

    /// No successful backup within `maxBackupAge` (none ever counts too). Exactly the limit is
    /// still fine.
    static func staleBackup(_ o: WatchdogObservation, _ t: AlertThresholds) -> Condition? {
        guard let last = o.lastSuccessfulBackup else {
            return Condition(key: "backup.stale", severity: .critical,
                             summary: "no successful backup yet",
                             detail: "there is no restore point: the database cannot be restored from the repository",
                             hint: "run `tidemark run-job full` and read its error; `tidemark schedule` shows each job's last outcome")
        }
        let age = o.now.timeIntervalSince(last)
        guard age > t.maxBackupAge else { return nil }
        return Condition(key: "backup.stale", severity: .critical,
                         summary: "no successful backup for \(describe(duration: age)) (limit \(describe(duration: t.maxBackupAge))); the newest ended \(describe(date: last))",
                         detail: "no new restore point since \(describe(date: last)); a restore replays every WAL segment since then, so it takes longer and needs all of them",
                         hint: "`tidemark schedule` shows the backup jobs' last errors; fix the cause, then `tidemark run-job full`")
    }

    /// Nothing archived for longer than `maxArchiveSilence` while at least one completed
    /// segment waits. Not judged when the server is unreachable (that is a probe error).
    static func silentArchive(_ o: WatchdogObservation, _ t: AlertThresholds) -> Condition? {
        guard let waiting = o.unarchivedCompletedSegments, waiting >= 1 else { return nil }
        let segments = waiting == 1 ? "1 completed WAL segment waits" : "\(waiting) completed WAL segments wait"
        let summary: String
        let detail: String
        if let last = o.lastArchived {
            let silence = o.now.timeIntervalSince(last)
            guard silence > t.maxArchiveSilence else { return nil }
            summary = "nothing archived for \(describe(duration: silence)) (limit \(describe(duration: t.maxArchiveSilence))) while \(segments)"
            detail = "point-in-time recovery reaches only WAL archived by \(describe(date: last)); the server keeps the rest in pg_wal, which grows until archiving resumes"
        } else {
            summary = "nothing ever archived while \(segments)"
            detail = "no WAL is in the repository: a restore can reach only the end of a backup, and pg_wal grows until archiving works"
        }
        return Condition(key: "archive.silent", severity: .critical, summary: summary, detail: detail,
                         hint: "read the PostgreSQL log for archive_command failures (`tidemark wal-push` logs one line each) and run `tidemark check`")
    }

    /// More `.ready` files than `maxReadySegments`.
    static func archiveBacklog(_ o: WatchdogObservation, _ t: AlertThresholds) -> Condition? {
        guard let ready = o.readySegments, ready > t.maxReadySegments else { return nil }
        return Condition(key: "archive.backlog", severity: .warning,
                         summary: "\(ready) WAL segments wait to be archived (.ready files; limit \(t.maxReadySegments))",
                         detail: "PostgreSQL keeps every unarchived segment in pg_wal; the newest WAL is not yet safe, and a full pg_wal stops the server",
                         hint: "archiving is failing or slower than the server writes WAL: check the PostgreSQL log for archive_command errors and the repository's speed (`tidemark check`)")
    }

    /// The restorable window shorter than min(promised, window end − oldest backup) by more than
    /// `windowTolerance`. Measured to the window's end, not to now: how far the archive lags
    /// behind is the RPO's business, not the window's. Not judged without a window or a backup.
    static func shortWindow(_ o: WatchdogObservation) -> Condition? {
        guard let window = o.restorableWindow, let oldest = o.oldestBackup else { return nil }
        let expected = min(o.promisedWindow, window.end.timeIntervalSince(oldest))
        let length = max(0, window.end.timeIntervalSince(window.start))
        guard expected > 0, length < expected * (1 - windowTolerance) else { return nil }
        return Condition(key: "window.short", severity: .warning,
                         summary: "the restorable window is \(describe(duration: length)) (\(describe(date: window.start)) to \(describe(date: window.end))), expected \(describe(duration: expected))",
                         detail: "point-in-time recovery reaches back only to \(describe(date: window.start)): a WAL gap or a lost backup shortened it below the promised \(describe(duration: o.promisedWindow))",
                         hint: "`tidemark verify` names WAL gaps and the backups they break, `tidemark info` shows the windows per timeline; a new full backup starts a complete window from now")
    }

    /// Used / capacity above `storagePercent` (exactly the limit is still fine); critical from
    /// `storageCriticalPercent`. A repository without a known capacity is not judged.
    static func fullStorage(_ use: StorageUse, _ t: AlertThresholds) -> Condition? {
        guard let capacity = use.capacityBytes, capacity > 0 else { return nil }
        let percent = Double(use.usedBytes) * 100 / Double(capacity)
        guard percent > t.storagePercent else { return nil }
        return Condition(key: "storage.full.\(use.repository)",
                         severity: percent >= storageCriticalPercent ? .critical : .warning,
                         summary: "repository '\(use.repository)' is \(describe(tenths: percent)) % full (\(describe(bytes: use.usedBytes)) of \(describe(bytes: capacity)); limit \(describe(tenths: t.storagePercent)) %)",
                         detail: "when it fills, WAL archiving and backups to '\(use.repository)' fail and the restorable window stops advancing",
                         hint: "`tidemark expire --dry-run` shows what retention would free; grow the volume (or raise the repository's `quotaBytes`), or shorten retention")
    }

    // MARK: - Figures in words

    /// "45 seconds", "30 minutes", "26.5 hours", "7 days".
    static func describe(duration seconds: TimeInterval) -> String {
        let s = max(0, seconds.isFinite ? seconds : 0)
        if s < 120 { return "\(Int(s)) seconds" }
        if s < 2 * 3600 { return "\(Int(s / 60)) minutes" }
        if s < 48 * 3600 { return "\(describe(tenths: s / 3600)) hours" }
        return "\(describe(tenths: s / 86400)) days"
    }

    /// One decimal, without a trailing ".0": "26.5", "80".
    static func describe(tenths value: Double) -> String {
        guard value.isFinite else { return "?" }
        let tenths = Int((value * 10).rounded())
        let sign = tenths < 0 ? "-" : ""
        let magnitude = abs(tenths)
        return magnitude % 10 == 0 ? "\(sign)\(magnitude / 10)" : "\(sign)\(magnitude / 10).\(magnitude % 10)"
    }

    /// "512 MiB", "1.5 GiB", "2 TiB" (binary units).
    static func describe(bytes: Int64) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(bytes)
        var unit = 0
        while abs(value) >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) bytes" : "\(describe(tenths: value)) \(units[unit])"
    }

    /// "2026-12-01T03:00:00Z".
    static func describe(date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
