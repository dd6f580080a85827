import Foundation

/// When a job is due: the instants after a given one. `CronSchedule` conforms; tests use
/// simpler ones. The contract the scheduler relies on: `next(after: d)` is strictly after
/// `d` (an answer at or before `d` is treated as "no more times"), and `nil` means never again.
public protocol RunTimes: Sendable {
    func next(after date: Date) -> Date?
}

/// One job of the schedule, as the scheduler sees it: a name, when it is due, how long a run
/// may take, and whether it takes the stanza lock (all of a service's jobs are on one stanza,
/// so at most one exclusive job runs at a time; a non-exclusive job only never overlaps itself).
public struct ScheduledJob: Sendable {
    public var name: String
    public var times: any RunTimes
    public var timeout: TimeInterval
    public var exclusive: Bool

    public init(name: String, times: any RunTimes, timeout: TimeInterval, exclusive: Bool = true) {
        self.name = name
        self.times = times
        self.timeout = timeout
        self.exclusive = exclusive
    }
}

/// How a run ended, as the job runner reports it.
public enum JobOutcome: Sendable, Equatable, Codable {
    case succeeded
    case failed(String)
    case timedOut
    case cancelled
}

/// What the scheduler is told. Every event carries the wall-clock time it happened at; the
/// scheduler's clock is the latest time it has been told (a time earlier than that, say after
/// the wall clock stepped back, does not move it back).
public enum SchedulerEvent: Sendable, Equatable {
    /// Time passed: fire times up to `Date` are due, deadlines up to it have expired.
    case tick(Date)
    /// The runner's report that a run ended. For a job that is not running (unknown, already
    /// finished, or one whose run was cancelled and reported as timed out) it changes nothing
    /// but that job's permission to start again (see `Scheduler`).
    case finished(job: String, at: Date, outcome: JobOutcome)
    /// Run this job now (`tidemark run-job`, the API): it starts as soon as no exclusive job
    /// runs, after the runs that were due before the request.
    case requested(job: String, at: Date)
}

/// Why a run was started.
public enum StartReason: String, Sendable, Equatable, Codable {
    /// Its fire time passed while the service ran (perhaps while it waited for another job).
    case scheduled
    /// Its most recent fire time passed while the service was down, within the catch-up window.
    case catchUp
    /// Someone asked for it.
    case requested
}

/// A run the runner must start now.
public struct JobStart: Sendable, Equatable {
    public var name: String
    /// The fire time (or request time) this run is for: the earliest one it covers when several
    /// passed while it waited (they are coalesced into this one run), or the most recent missed
    /// one for a catch-up run.
    public var scheduledFor: Date
    /// True for a catch-up run: it was missed while the service was down (notifications say so).
    public var late: Bool
    /// When the run must be over: the start time plus the job's timeout. Past it the scheduler
    /// asks for a cancel.
    public var deadline: Date
    public var reason: StartReason

    public init(name: String, scheduledFor: Date, late: Bool, deadline: Date, reason: StartReason) {
        self.name = name
        self.scheduledFor = scheduledFor
        self.late = late
        self.deadline = deadline
        self.reason = reason
    }
}

/// Why the scheduler asks for a run to be cancelled.
public enum CancelReason: String, Sendable, Equatable, Codable {
    case timeout
}

/// What the scheduler asks the runner to do, in order.
public enum SchedulerAction: Sendable, Equatable {
    case start(JobStart)
    case cancel(job: String, reason: CancelReason)
}

/// One job's state, read-only, for `tidemark schedule` and the API.
public struct JobStatus: Sendable, Equatable {
    public var name: String
    public var exclusive: Bool
    /// The next fire time still ahead of the scheduler's clock (nil: never again).
    public var nextDue: Date?
    /// Set while a run is owed (due or requested, not yet started): the time it is for.
    public var waitingSince: Date?
    public var waitingReason: StartReason?
    /// Set while a run is in progress.
    public var runningSince: Date?
    public var deadline: Date?
    /// True after the scheduler asked for the run to be cancelled (its deadline passed) until
    /// the runner reports it finished. Such a run no longer holds other jobs back, but the job
    /// itself does not start again until then.
    public var cancelRequested: Bool
    /// The last run's outcome and when it was recorded (a cancelled run: at its deadline).
    public var lastOutcome: JobOutcome?
    public var lastFinished: Date?
    /// When the job last started (what the service saves as `lastRuns` across restarts).
    public var lastStarted: Date?
}
