import Foundation

/// The service's scheduler as a pure state machine: events in (time passed, a run ended, a run
/// was asked for), actions out (start this run, cancel that one). It owns no clock and no
/// task; the service feeds it the wall clock and sleeps until `nextWake()`.
///
/// Rules (issue 14, docs/service.md):
/// - Never two exclusive jobs at once (they share the stanza lock); a job never overlaps itself.
/// - A job whose fire time passes while it cannot start (another exclusive job runs, or its own
///   previous run is still going) waits, then runs once, however many of its fire times passed
///   meanwhile (they are coalesced into one run, `scheduledFor` the earliest).
/// - Waiting runs start in the order of the time they are for, then of declaration.
/// - At start (`init`), a job whose most recent fire time after its last run lies in the
///   catch-up window (now − catchUp, now] runs once (`late`, reason `.catchUp`); older misses
///   are dropped, and the job's next normal time stays. With no last run the window alone
///   decides. The catch-up starts come out of the first `handle` call (send `.tick(now)`).
/// - A run past its deadline gets one `.cancel` and is recorded as timed out; from then on it
///   holds no other job back, but the job itself does not start again until the runner
///   reports that run finished (so two runs of one job never overlap). The runner's late
///   `.finished(... .timedOut)` only releases the job. A `.finished` for an unknown or
///   not-running job is ignored.
/// - A requested run starts as soon as no exclusive job runs (after runs that were due
///   earlier); a request for a job already owed a run is covered by that run.
public struct Scheduler: Sendable {
    private struct Owed: Sendable {
        var scheduledFor: Date
        var reason: StartReason
    }

    private struct Run: Sendable {
        var since: Date
        var deadline: Date
        var cancelRequested: Bool
    }

    private struct Slot: Sendable {
        var job: ScheduledJob
        var nextFire: Date?
        var owed: Owed?
        var run: Run?
        var lastOutcome: JobOutcome?
        var lastFinished: Date?
        var lastStarted: Date?
    }

    private var slots: [Slot] = []
    private var slotIndex: [String: Int] = [:]
    /// The scheduler's clock: the latest time it was told.
    public private(set) var now: Date
    /// The catch-up window it was started with.
    public let catchUp: TimeInterval

    /// - Parameters:
    ///   - jobs: the schedule, in declaration order (the tie-break). Names must be unique (the
    ///     configuration checks); a later job with a name already taken is ignored.
    ///   - catchUp: how far back a run missed while the service was down is still run (a
    ///     negative value counts as 0).
    ///   - lastRuns: when each job last started (any outcome), as saved by the previous service
    ///     run; fire times after it were missed.
    ///   - now: the wall clock at start.
    public init(jobs: [ScheduledJob], catchUp: TimeInterval, lastRuns: [String: Date], now: Date) {
        self.now = now
        self.catchUp = catchUp.isNaN ? 0 : max(0, catchUp)
        let windowStart = now.addingTimeInterval(-self.catchUp)
        for job in jobs where slotIndex[job.name] == nil {
            var slot = Slot(job: job, nextFire: Self.fire(of: job.times, after: now))
            slot.lastStarted = lastRuns[job.name]
            let lower = max(lastRuns[job.name] ?? windowStart, windowStart)
            if let missed = Self.mostRecentFire(of: job.times, after: lower, upTo: now) {
                slot.owed = Owed(scheduledFor: missed, reason: missed < now ? .catchUp : .scheduled)
            }
            slotIndex[job.name] = slots.count
            slots.append(slot)
        }
    }

    /// Takes one event and returns what to do, cancels first, then starts in order.
    public mutating func handle(_ event: SchedulerEvent) -> [SchedulerAction] {
        var actions: [SchedulerAction] = []
        switch event {
        case .tick(let time):
            advance(to: time, &actions)
        case .finished(let name, let time, let outcome):
            // Before the clock moves: a run that reports its end is not cancelled for a
            // deadline that passed in the same instant the report arrived.
            if let i = slotIndex[name], let run = slots[i].run {
                slots[i].run = nil
                if !run.cancelRequested {
                    slots[i].lastOutcome = outcome
                    slots[i].lastFinished = time
                }
            }
            advance(to: time, &actions)
        case .requested(let name, let time):
            advance(to: time, &actions)
            if let i = slotIndex[name], slots[i].owed == nil {
                slots[i].owed = Owed(scheduledFor: now, reason: .requested)
            }
        }
        dispatch(&actions)
        return actions
    }

    /// When the scheduler next has something to do without being told: the earliest fire time
    /// ahead or deadline of a running run. Nil when nothing is ever due again; runs that wait
    /// for another to finish are woken by its `.finished`, not by time.
    public func nextWake() -> Date? {
        var wake: Date?
        func consider(_ date: Date?) {
            guard let date else { return }
            if wake.map({ date < $0 }) ?? true { wake = date }
        }
        for slot in slots {
            consider(slot.nextFire)
            if let run = slot.run, !run.cancelRequested { consider(run.deadline) }
        }
        return wake
    }

    /// Every job's state, in declaration order.
    public var jobs: [JobStatus] { slots.map(Self.status) }

    /// One job's state; nil for a name the schedule does not have.
    public func status(of name: String) -> JobStatus? {
        slotIndex[name].map { Self.status(slots[$0]) }
    }

    /// When each job last started, for the service to save and hand to the next `init`.
    public var lastRuns: [String: Date] {
        var runs: [String: Date] = [:]
        for slot in slots { runs[slot.job.name] = slot.lastStarted }
        return runs
    }

    // MARK: - The machine

    /// Moves the clock to `time` (never back): passed fire times make runs owed (coalesced),
    /// expired deadlines make cancels.
    private mutating func advance(to time: Date, _ actions: inout [SchedulerAction]) {
        if time > now { now = time }
        for i in slots.indices {
            if let fire = slots[i].nextFire, fire <= now {
                if slots[i].owed == nil { slots[i].owed = Owed(scheduledFor: fire, reason: .scheduled) }
                // Every fire time up to now is covered by the owed run: skip to the first ahead.
                slots[i].nextFire = Self.fire(of: slots[i].job.times, after: now)
            }
            if var run = slots[i].run, !run.cancelRequested, now >= run.deadline {
                run.cancelRequested = true
                slots[i].run = run
                slots[i].lastOutcome = .timedOut
                slots[i].lastFinished = run.deadline
                actions.append(.cancel(job: slots[i].job.name, reason: .timeout))
            }
        }
    }

    /// Starts every owed run that may start now, in order of the time it is for, then of
    /// declaration; exclusive runs one at a time.
    private mutating func dispatch(_ actions: inout [SchedulerAction]) {
        var exclusiveBusy = slots.contains { slot in
            slot.job.exclusive && slot.run.map { !$0.cancelRequested } == true
        }
        var ready: [(index: Int, owed: Owed)] = []
        for (i, slot) in slots.enumerated() where slot.run == nil {
            if let owed = slot.owed { ready.append((i, owed)) }
        }
        ready.sort { ($0.owed.scheduledFor, $0.index) < ($1.owed.scheduledFor, $1.index) }
        for (i, owed) in ready {
            let job = slots[i].job
            if job.exclusive {
                if exclusiveBusy { continue }
                exclusiveBusy = true
            }
            let deadline = Self.deadline(from: now, timeout: job.timeout)
            slots[i].owed = nil
            slots[i].run = Run(since: now, deadline: deadline, cancelRequested: false)
            slots[i].lastStarted = now
            actions.append(.start(JobStart(name: job.name, scheduledFor: owed.scheduledFor,
                                           late: owed.reason == .catchUp, deadline: deadline,
                                           reason: owed.reason)))
        }
    }

    /// A run's deadline; a timeout that is not a positive finite number means no limit.
    private static func deadline(from start: Date, timeout: TimeInterval) -> Date {
        guard timeout.isFinite, timeout > 0 else { return .distantFuture }
        return start.addingTimeInterval(timeout)
    }

    /// The next fire time strictly after `date`; an answer at or before it counts as none
    /// (a broken RunTimes must not spin the scheduler).
    private static func fire(of times: any RunTimes, after date: Date) -> Date? {
        guard let next = times.next(after: date), next > date else { return nil }
        return next
    }

    /// The latest fire time in (lower, upper], walking forward from `lower`.
    private static func mostRecentFire(of times: any RunTimes, after lower: Date, upTo upper: Date) -> Date? {
        var latest: Date?
        var cursor = lower
        // The catch-up window bounds the walk (hours of an every-second schedule at most);
        // the cap only guards against a RunTimes that creeps forward by tiny steps.
        for _ in 0..<1_000_000 {
            guard let next = fire(of: times, after: cursor), next <= upper else { break }
            latest = next
            cursor = next
        }
        return latest
    }

    private static func status(_ slot: Slot) -> JobStatus {
        JobStatus(name: slot.job.name, exclusive: slot.job.exclusive, nextDue: slot.nextFire,
                  waitingSince: slot.owed?.scheduledFor, waitingReason: slot.owed?.reason,
                  runningSince: slot.run?.since, deadline: slot.run?.deadline,
                  cancelRequested: slot.run?.cancelRequested ?? false,
                  lastOutcome: slot.lastOutcome, lastFinished: slot.lastFinished,
                  lastStarted: slot.lastStarted)
    }
}
