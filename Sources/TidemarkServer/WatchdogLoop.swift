#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ServiceLifecycle
import TidemarkCore
import TidemarkNotify
import TidemarkPolicy
import TidemarkSystem

/// The watchdog's loop, apart from the scheduler (a job that hangs cannot silence it): every
/// `alerts.checkIntervalSeconds` it takes a status snapshot, updates the metrics, evaluates the
/// absence rules, sends what the incident tracker opens or resolves, pings the heartbeat after
/// a healthy check, and sends the daily summary and the weekly report when they are due.
public struct WatchdogLoop: Service {
    public var context: ServiceContext
    public var probe: StatusProbe
    public var metrics: ServiceMetrics
    public var heartbeat: Heartbeat?
    /// The newest snapshot, for /healthz and the failure messages' outlook.
    let latest: LockedBox<StatusSnapshot?>
    let started: Date

    init(context: ServiceContext, probe: StatusProbe, metrics: ServiceMetrics, heartbeat: Heartbeat?,
         latest: LockedBox<StatusSnapshot?>) {
        self.context = context
        self.probe = probe
        self.metrics = metrics
        self.heartbeat = heartbeat
        self.latest = latest
        started = context.now()
    }

    public func run() async throws {
        var archive = ArchiveProgress(since: started)
        var seenRuns: [String: [String: Int]] = [:]
        var seenVerify: Date?
        var seenRehearsal: Date?
        var seenArchiveFailures: Int64?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let snapshot = await probe.probe(previous: latest.value)
            latest.mutate { $0 = snapshot }
            metrics.update(from: snapshot)
            let now = context.now()
            archive.observe(snapshot.archive.archivedSegment, at: now)
            if let failed = snapshot.archive.serverFailedCount {
                if let seen = seenArchiveFailures, failed > seen { for _ in 0..<(failed - seen) { metrics.recordArchiveFailure() } }
                seenArchiveFailures = failed
            }
            let observation = StatusOutlook.observation(snapshot, configuration: context.engine.configuration,
                                                        lastArchived: archive.lastChange, now: now)
            let conditions = Watchdog.evaluate(observation, context.settings.thresholds)
            let storage = Dictionary(snapshot.repositories.compactMap { r in r.usedBytes.map { (r.name, $0) } }) { a, _ in a }
            let (changes, state) = try await context.stateStore.update { state in
                state.sampleStorage(storage, at: now)
                return (state.incidents.update(scope: "watchdog", conditions: conditions, now: now), state)
            }
            // Job runs, verify and rehearsal outcomes recorded by this service or by run-job.
            for (job, record) in state.jobs {
                for (outcome, count) in record.runs {
                    let seen = seenRuns[job]?[outcome] ?? 0
                    for _ in 0..<max(0, count - seen) { metrics.recordJob(name: job, outcome: outcome) }
                    seenRuns[job, default: [:]][outcome] = count
                }
            }
            if let v = state.lastVerifySuccess, v != seenVerify {
                metrics.recordVerify(success: v)
                seenVerify = v
            }
            if let r = state.lastRehearsalSuccess, r != seenRehearsal, let rto = state.lastRehearsalRTOSeconds {
                metrics.recordRehearsal(rto: rto, at: r)
                seenRehearsal = r
            }
            let outlook = StatusOutlook.outlook(snapshot)
            for change in changes {
                switch change {
                case .opened(let incident):
                    await context.notifier.post(context.messages.alertOpened(incident.condition, outlook: outlook, now: now))
                case .resolved(let incident, _):
                    await context.notifier.post(context.messages.alertResolved(incident.condition, since: incident.opened, now: now))
                }
            }
            if let heartbeat, conditions.isEmpty {
                do {
                    try await heartbeat.ping(healthy: true)
                } catch {
                    context.logger.warning("heartbeat ping failed", metadata: ["error": "\((error as? TidemarkError)?.message ?? "\(error)")"])
                    metrics.recordNotificationFailure(channel: "heartbeat")
                }
            }
            await sendReports(state: state, outlook: outlook, now: now)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: context.settings.checkInterval) }
        }
    }

    /// The daily summary and the weekly report, when their time has come since the last one.
    func sendReports(state: ServiceState, outlook: RecoveryOutlook, now: Date) async {
        let open = state.incidents.openIncidents.map(\.condition.summary)
        if let daily = context.settings.schedule.dailySummary,
           let due = daily.next(after: state.lastSummary ?? started), due <= now {
            let successes = state.successesSinceSummary
            await context.notifier.post(context.messages.dailySummary(successes, openIncidents: open, outlook: outlook, now: now))
            try? await context.stateStore.update { s in
                s.lastSummary = now
                s.successesSinceSummary.removeAll { $0.finished <= now }
            }
        }
        if let weekly = context.settings.schedule.weeklyReport,
           let due = weekly.next(after: state.lastReport ?? started), due <= now {
            let backups = (try? await context.engine.list().backups) ?? []
            let report = WeeklyReport(backups: backups, storage: state.storage, outlook: outlook,
                                      lastRehearsalRTOSeconds: state.lastRehearsalRTOSeconds, lastRehearsal: state.lastRehearsalSuccess,
                                      openIncidents: open)
            await context.notifier.post(report.notification(context.messages, now: now))
            try? await context.stateStore.update { s in s.lastReport = now }
        }
    }
}

/// When the newest segment archived in every required repository last changed, as the
/// watchdog saw it (the service's start counts as a change: no alert for what happened before).
struct ArchiveProgress {
    var segment: String?
    var lastChange: Date

    init(since start: Date) { lastChange = start }

    mutating func observe(_ newest: String?, at now: Date) {
        guard let newest, newest != segment else { return }
        if segment != nil { lastChange = now }
        segment = newest
    }
}
