#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ServiceLifecycle
import TidemarkAudit
import TidemarkCore
import TidemarkPolicy
import TidemarkServer

/// One job started over the API, as `GET /api/jobs/{id}` shows it.
public struct APIJob: Codable, Sendable, Equatable {
    public struct Progress: Codable, Sendable, Equatable {
        /// queued, running or done.
        public var phase: String
        public var elapsedSeconds: Double
    }
    public struct Result: Codable, Sendable, Equatable {
        public var exitCode: Int32?
        public var backupId: String?
        public var rehearsalRTOSeconds: Double?
        public var durationSeconds: Double
        /// The command's last output lines.
        public var output: String
    }

    public var id: String
    /// backup-full, backup-incremental, verify or rehearse.
    public var type: String
    /// queued, running, succeeded, failed, timedOut, cancelled or busy (JobResult's outcomes).
    public var status: String
    public var requestedBy: String
    public var createdAt: String
    public var startedAt: String?
    public var finishedAt: String?
    public var progress: Progress
    public var result: Result?
    public var error: String?
    public var hint: String?
}

/// The API's jobs: at most one at a time for the stanza (a second request is told which one
/// runs), each run through the service's `JobRunner` and recorded by `JobExecution` like a
/// scheduled job. On shutdown every running job is asked to stop (SIGTERM to its group).
public actor APIJobs {
    public enum StartOutcome: Sendable { case started(String), busy(running: String), failed(String) }

    let context: ServiceContext
    let timeZone = TimeZone(identifier: "UTC") ?? TimeZone.current
    var jobs: [String: APIJob] = [:]
    var order: [String] = []
    var running: String?
    var tasks: [String: Task<Void, Never>] = [:]
    let stop = StopFlag()
    var starts: [String: Date] = [:]
    /// Jobs finished since the service started (the dashboard's list is read again after each).
    private(set) var finishedCount = 0

    public init(context: ServiceContext) { self.context = context }

    public func job(_ id: String) -> APIJob? {
        guard var job = jobs[id] else { return nil }
        if let started = starts[id], job.finishedAt == nil {
            job.progress.elapsedSeconds = (context.now().timeIntervalSince(started) * 10).rounded() / 10
        }
        return job
    }

    /// Starts `kind` with `arguments` (after the global options) unless a job runs; `files`:
    /// then the file backup of the database backup it made (`includeFiles`).
    public func start(type: String, kind: ServiceJob.Kind, arguments: [String], requestedBy: String,
                      files: FilesFollowUp? = nil) -> StartOutcome {
        if let running { return .busy(running: running) }
        guard let job = Self.serviceJob(type: type, kind: kind, includeFiles: files != nil) else { return .failed("the job's placeholder schedule did not parse") }
        let id = Self.newID()
        let now = context.now()
        jobs[id] = APIJob(id: id, type: type, status: "queued", requestedBy: requestedBy, createdAt: Self.time(now),
                          progress: .init(phase: "queued", elapsedSeconds: 0))
        order.append(id)
        if order.count > 200 { jobs[order.removeFirst()] = nil }
        running = id
        starts[id] = now
        let c = context, stop = stop
        tasks[id] = Task {
            let result = await c.runner.run(job: job.name, arguments: arguments, scheduledFor: now, late: false,
                                            deadline: ContinuousClock.now + job.timeout, stop: stop, now: c.now, files: files) { _ in
                await self.markRunning(id)
            }
            await JobExecution(context: c).record(result, job: job)
            await self.finish(id, result)
        }
        return .started(id)
    }

    func markRunning(_ id: String) {
        jobs[id]?.status = "running"
        jobs[id]?.progress.phase = "running"
        jobs[id]?.startedAt = Self.time(context.now())
    }

    func finish(_ id: String, _ r: JobResult) {
        guard var job = jobs[id] else { return }
        job.status = r.outcome.rawValue
        job.startedAt = job.startedAt ?? Self.time(r.started)
        job.finishedAt = Self.time(r.finished)
        job.progress = .init(phase: "done", elapsedSeconds: (r.duration * 10).rounded() / 10)
        job.result = .init(exitCode: r.exitCode, backupId: r.backupID, rehearsalRTOSeconds: r.rehearsalRTOSeconds,
                           durationSeconds: (r.duration * 1000).rounded() / 1000, output: String(r.output.suffix(4000)))
        job.error = r.error
        job.hint = r.hints.isEmpty ? nil : r.hints.joined(separator: "; ")
        jobs[id] = job
        if running == id { running = nil }
        tasks[id] = nil
        finishedCount += 1
    }

    /// Asks every running job to stop and waits for it to end.
    public func shutdown() async {
        stop.raise()
        for task in tasks.values { await task.value }
    }

    static func serviceJob(type: String, kind: ServiceJob.Kind, includeFiles: Bool = false) -> ServiceJob? {
        // Never scheduled: the expression only fills the field.
        guard let cron = try? CronExpression.parse("0 0 1 1 *") else { return nil }
        let zone = TimeZone(identifier: "UTC") ?? TimeZone.current
        return ServiceJob(name: "api-" + type, kind: kind, cron: cron, schedule: CronSchedule(cron, timeZone: zone),
                          timeout: .seconds(kind.defaultTimeoutMinutes * 60), enabled: false, includeFiles: includeFiles)
    }

    static func newID() -> String {
        var g = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return String((0..<16).map { _ in digits[Int(g.next() % 16)] })
    }

    static func time(_ d: Date) -> String { AuditTime.format(d) }
}

/// Stops the API's jobs when the service group shuts down.
public struct APIJobService: Service {
    public let jobs: APIJobs

    public init(jobs: APIJobs) { self.jobs = jobs }

    public func run() async throws {
        try? await gracefulShutdown()
        await jobs.shutdown()
    }
}
