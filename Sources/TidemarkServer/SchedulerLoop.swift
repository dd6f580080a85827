#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle
import TidemarkCore
import TidemarkPolicy
import TidemarkSystem

/// The scheduler's loop: feeds the clock to the pure `Scheduler` once a second and runs what
/// it starts, one job at a time. On shutdown a running job is asked to stop (SIGTERM; killed
/// after the runner's grace) and its end is recorded, so no job is left "running".
public struct SchedulerLoop: Service {
    public var context: ServiceContext

    public init(context: ServiceContext) { self.context = context }

    public func run() async throws {
        let c = context
        try await Self.settleInterrupted(c)
        let state = try c.stateStore.load()
        let jobs = c.settings.schedule.jobs.filter(\.enabled)
        var scheduler = Scheduler(
            jobs: jobs.map { ScheduledJob(name: $0.name, times: $0.schedule, timeout: $0.timeout.seconds, exclusive: true) },
            catchUp: c.settings.schedule.catchUp, lastRuns: state.lastRuns, now: c.now())
        let stop = StopFlag()
        // The running job's task, and the results of finished ones the loop has not seen yet.
        var running: Task<Void, Never>?
        let finished = LockedBox<[JobResult]>([])
        c.logger.notice("scheduler started", metadata: ["jobs": "\(jobs.map(\.name).joined(separator: ","))"])
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !stop.isRaised {
                var done: [JobResult] = []
                finished.mutate { done = $0; $0.removeAll() }
                for r in done {
                    running = nil
                    _ = scheduler.handle(.finished(job: r.job, at: r.finished, outcome: Self.outcome(r)))
                }
                for action in scheduler.handle(.tick(c.now())) {
                    switch action {
                    case .start(let start):
                        guard let job = jobs.first(where: { $0.name == start.name }) else { continue }
                        let deadline = ContinuousClock.now + max(.seconds(1), .seconds(start.deadline.timeIntervalSince(c.now())))
                        running = Task {
                            let r = await JobExecution(context: c).execute(job, scheduledFor: start.scheduledFor, late: start.late,
                                                                           deadline: deadline, stop: stop)
                            finished.mutate { $0.append(r) }
                        }
                    case .cancel(let name, _):
                        c.logger.warning("job passed its time limit; the runner stops it", metadata: ["job": "\(name)"])
                    }
                }
                try? await Task.sleep(for: .seconds(1))
            }
        } onGracefulShutdown: {
            stop.raise()
        }
        if let task = running {
            c.logger.notice("waiting for the running job to stop")
            _ = await task.value
        }
        c.logger.notice("scheduler stopped")
    }

    static func outcome(_ r: JobResult) -> JobOutcome {
        switch r.outcome {
        case .succeeded: return .succeeded
        case .timedOut: return .timedOut
        case .cancelled: return .cancelled
        case .failed, .busy: return .failed(r.error ?? "failed")
        }
    }

    /// A job the state says is running whose process is gone (the service was killed): it is
    /// recorded as interrupted, never left "running".
    static func settleInterrupted(_ c: ServiceContext) async throws {
        try await c.stateStore.update { state in
            for (name, var r) in state.jobs where r.lastOutcome == "running" {
                if let pid = r.pid, kill(pid, 0) == 0 || errno == EPERM { continue }
                r.lastOutcome = "interrupted"
                r.lastError = "the job's process ended without the service recording its outcome (the service was killed)"
                r.pid = nil
                r.runs["interrupted", default: 0] += 1
                state.jobs[name] = r
            }
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
