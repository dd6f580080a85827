#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Tidemark
import TidemarkCore
import TidemarkNotify
import TidemarkPolicy
import TidemarkRepository

/// One run of a job, the same for `serve` and `run-job`: the runner (lock, time limit, child
/// process), then the state (last outcome, counts, successes), the incident (one alert per
/// incident, one "works again"), the monthly pin and the rehearsal's RTO.
public struct JobExecution: Sendable {
    public var context: ServiceContext

    public init(context: ServiceContext) { self.context = context }

    public func execute(_ job: ServiceJob, scheduledFor: Date, late: Bool, deadline: ContinuousClock.Instant,
                        stop: StopFlag) async -> JobResult {
        let c = context
        let store = c.stateStore
        let name = job.name
        c.logger.info("job started", metadata: ["job": "\(name)", "late": "\(late)"])
        var result = await c.runner.run(job: name, arguments: job.kind.arguments, scheduledFor: scheduledFor, late: late,
                                        deadline: deadline, stop: stop, now: c.now, files: job.filesFollowUp) { pid in
            let started = c.now()
            try? await store.update { state in
                var r = state.jobs[name] ?? ServiceState.JobRecord()
                r.lastOutcome = "running"
                r.pid = pid
                r.lastStarted = started
                r.lastScheduledFor = scheduledFor
                state.jobs[name] = r
            }
        }
        if result.outcome == .succeeded, case .backup(_, let months?) = job.kind, let id = result.backupID {
            await pinArchival(id, months: months, job: name, into: &result)
        }
        await record(result, job: job)
        c.logger.info("job finished", metadata: ["job": "\(name)", "outcome": "\(result.outcome.rawValue)",
                                                 "duration.s": "\(Int(result.duration))"])
        return result
    }

    /// The monthly archival full: pinned with its end date in the reason; pins of this job that
    /// have run out are lifted in the same run (retention then treats the backups as usual).
    func pinArchival(_ id: String, months: Int, job: String, into result: inout JobResult) async {
        let c = context
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let until = calendar.date(byAdding: .month, value: months, to: result.finished) ?? result.finished
        let day = String(ServiceMessages.time(until).prefix(10))
        do {
            _ = try await c.engine.pin(id, reason: "\(ArchivalPin.prefix)\(day) (schedule job '\(job)')")
            let lifted = try await ArchivalPin.liftExpired(engine: c.engine, now: result.finished)
            if !lifted.isEmpty { result.output += "\nlifted expired archival pins: " + lifted.joined(separator: ", ") }
        } catch {
            result.outcome = .failed
            result.error = "backup \(id) was taken but could not be pinned: \((error as? TidemarkError)?.message ?? "\(error)")"
            result.hints = ["pin it by hand: tidemark pin \(id) --reason 'monthly archival until \(day)'"]
        }
    }

    /// Saves the outcome and sends what the incident tracker says to send.
    public func record(_ r: JobResult, job: ServiceJob) async {
        let c = context
        let name = job.name
        let failed = r.outcome != .succeeded
        let condition = Condition(key: "job.\(name)", severity: .critical,
                                  summary: "\(job.kind.typeName) job '\(name)' \(r.outcome.rawValue)",
                                  detail: r.error ?? "", hint: r.hints.first ?? "see the service log")
        let now = c.now()
        let changes: [IncidentChange]
        do {
            changes = try await c.stateStore.update { state in
                var rec = state.jobs[name] ?? ServiceState.JobRecord()
                rec.lastOutcome = r.outcome.rawValue
                rec.lastFinished = r.finished
                rec.lastStarted = r.started
                rec.lastScheduledFor = r.scheduledFor
                rec.lastError = r.error
                rec.lastHints = r.hints
                rec.lastExitCode = r.exitCode
                rec.lastDurationSeconds = r.duration
                rec.lastLate = r.late
                rec.pid = nil
                rec.runs[r.outcome.rawValue, default: 0] += 1
                state.jobs[name] = rec
                if !failed {
                    state.successesSinceSummary.append(.init(job: name, finished: r.finished, durationSeconds: r.duration,
                                                             detail: r.backupID.map { "backup \($0)" }))
                    if state.successesSinceSummary.count > 500 { state.successesSinceSummary.removeFirst() }
                    switch job.kind {
                    case .verify: state.lastVerifySuccess = r.finished
                    case .rehearse:
                        state.lastRehearsalSuccess = r.finished
                        state.lastRehearsalRTOSeconds = r.rehearsalRTOSeconds
                    default: break
                    }
                }
                return state.incidents.update(scope: "job.\(name)", conditions: failed ? [condition] : [], now: now)
            }
        } catch {
            c.logger.error("unable to record the job's outcome", metadata: ["job": "\(name)", "error": "\(error)"])
            changes = []
        }
        guard !changes.isEmpty else { return }
        let outlook = await c.outlook()
        for change in changes {
            switch change {
            case .opened:
                await c.notifier.post(c.messages.jobFailed(r, type: job.typeDescription, outlook: outlook, now: now))
            case .resolved(let incident, _):
                await c.notifier.post(c.messages.jobRecovered(r, failingSince: incident.opened, now: now))
            }
        }
    }
}

/// The monthly job's pins: "monthly archival until YYYY-MM-DD (schedule job 'monthly')".
enum ArchivalPin {
    static let prefix = "monthly archival until "

    /// Lifts every archival pin whose date has passed; returns the backup ids.
    static func liftExpired(engine: Engine, now: Date) async throws -> [String] {
        let today = String(ServiceMessages.time(now).prefix(10))
        var expired: Set<String> = []
        for repository in try await engine.openRepositories() {
            let store = BackupStore(repository: repository, stanza: engine.configuration.stanza)
            for (id, pin) in try await store.pins() where pin.reason.hasPrefix(prefix) {
                let day = pin.reason.dropFirst(prefix.count).prefix(10)
                if day.count == 10, day < today { expired.insert(id.rawValue) }
            }
        }
        for id in expired.sorted() { _ = try await engine.pin(id, reason: nil, remove: true) }
        return expired.sorted()
    }
}
