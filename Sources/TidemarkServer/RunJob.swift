#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ServiceLifecycle
import TidemarkCore
import UnixSignals

/// `tidemark run-job NAME`: one job now, exactly as the service runs it (the host's job lock,
/// the time limit, the state, notifications), for cron or a person at the terminal. SIGTERM or
/// SIGINT asks the job to stop, as the service's shutdown does.
public struct RunJob: Sendable {
    public var context: ServiceContext

    public init(context: ServiceContext) { self.context = context }

    public func run(_ name: String, report: @escaping @Sendable (String) -> Void) async throws -> JobResult {
        let c = context
        let job = try c.settings.schedule.job(named: name)
        let stop = StopFlag()
        let signals = Task {
            for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                report("stopping the job (signal received)")
                stop.raise()
            }
        }
        defer { signals.cancel() }
        let result = await JobExecution(context: c).execute(job, scheduledFor: c.now(), late: false,
                                                            deadline: ContinuousClock.now + job.timeout, stop: stop)
        await c.notifier.drain(timeout: .seconds(60))
        return result
    }

    /// The process's exit code for a result (nil: success).
    public static func exitCode(_ r: JobResult) -> Int32? {
        switch r.outcome {
        case .succeeded: return nil
        case .failed: return (r.exitCode ?? 0) == 0 ? 7 : r.exitCode
        case .timedOut, .cancelled: return 7
        case .busy: return 13
        }
    }
}

extension JobResult {
    /// "job 'incremental' succeeded in 12.3 s" and the like.
    public var summaryLine: String {
        let words: String
        switch outcome {
        case .succeeded: words = "succeeded"
        case .failed: words = "failed" + (exitCode.map { " (exit \($0))" } ?? "")
        case .timedOut: words = "was stopped at its time limit"
        case .cancelled: words = "was stopped"
        case .busy: words = "did not run: another job held the lock"
        }
        return "job '\(job)' \(words) in \(ServiceMessages.duration(duration))"
    }
}
