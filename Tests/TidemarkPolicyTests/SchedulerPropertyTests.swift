import Foundation
import Testing
import TidemarkPolicy

/// The scheduler's rules over generated schedules and event sequences, checked against a
/// brute-force reference: the reference scans every minute for fire times, keeps the runs each
/// job is owed (fire times and requests since its last start, and the catch-up run computed
/// from scratch), plays the runner from the actions, and after every event checks:
/// - no start before due, and each start is for the earliest run its job is owed (so the fire
///   times that passed while it waited are coalesced into that one start);
/// - never two exclusive runs (a cancelled one no longer counts), never a job beside itself;
/// - no exclusive start ahead of another exclusive job owed an earlier run (ties: declaration);
/// - no owed run left waiting without an exclusive run to wait for;
/// - deadlines: a cancel exactly when an event reaches a running job's deadline, never before;
/// - the read-only view and `nextWake()` agree with the reference.
/// A failure names its seed; `SchedulerSimulation(seed:).run()` reproduces it.
@Suite("Scheduler properties")
struct SchedulerPropertyTests {
    @Test func generatedSchedulesKeepTheRules() {
        for seed in UInt64(1)...400 {
            var simulation = SchedulerSimulation(seed: seed)
            if let failure = simulation.run() {
                Issue.record("seed \(seed): \(failure)\n\(simulation.summary)")
                return
            }
        }
    }

    @Test func theSimulationReachesTheInterestingCases() {
        var totals = SchedulerSimulation.Counts()
        for seed in UInt64(1)...400 {
            var simulation = SchedulerSimulation(seed: seed)
            _ = simulation.run()
            totals.add(simulation.counts)
        }
        #expect(totals.catchUps > 20)
        #expect(totals.coalesced > 50)
        #expect(totals.cancels > 20)
        #expect(totals.requested > 20)
        #expect(totals.waitedForAnother > 50)
    }
}

struct SchedulerSimulation {
    struct Counts {
        var catchUps = 0, coalesced = 0, cancels = 0, requested = 0, waitedForAnother = 0

        mutating func add(_ other: Counts) {
            catchUps += other.catchUps; coalesced += other.coalesced; cancels += other.cancels
            requested += other.requested; waitedForAnother += other.waitedForAnother
        }
    }

    private struct Live {
        var deadline: Date
        var finishAt: Date
        var cancelled: Bool
    }

    private typealias C = SchedulerClock
    static let startMinute = 10_000
    static let horizonMinutes = 2 * 1440

    let seed: UInt64
    private var rng: SplitMix64
    let times: [MinuteTimes]
    let jobs: [ScheduledJob]
    let catchUp: TimeInterval
    let lastRuns: [String: Date]
    let start: Date
    private(set) var counts = Counts()

    init(seed: UInt64) {
        self.seed = seed
        var rng = SplitMix64(seed: seed)
        let periods = [1, 2, 5, 7, 15, 30, 60, 180]
        var times: [MinuteTimes] = []
        var jobs: [ScheduledJob] = []
        var lastRuns: [String: Date] = [:]
        let start = C.minute(Double(Self.startMinute)).addingTimeInterval(Double(rng.int(0...3) * 15))
        for i in 0..<rng.int(1...5) {
            let t: MinuteTimes
            if rng.chance(0.6) {
                t = .every(periods[rng.int(0...periods.count - 1)], offset: rng.int(0...59))
            } else {
                t = .at((0..<rng.int(1...30)).map { _ in rng.int((Self.startMinute - 1440)...(Self.startMinute + Self.horizonMinutes)) })
            }
            times.append(t)
            jobs.append(ScheduledJob(name: "j\(i)", times: t, timeout: Double(rng.int(1...240) * 60), exclusive: rng.chance(0.7)))
            if rng.chance(0.7) {
                lastRuns["j\(i)"] = start.addingTimeInterval(-Double(rng.int(0...1800) * 60 + rng.int(0...3) * 15))
            }
        }
        self.times = times
        self.jobs = jobs
        self.lastRuns = lastRuns
        self.catchUp = Double(rng.int(0...48) * 15 * 60)
        self.start = start
        self.rng = rng
    }

    var summary: String {
        let lines = jobs.indices.map { i in
            "  \(jobs[i].name): \(times[i]), timeout \(Int(jobs[i].timeout / 60)) min, \(jobs[i].exclusive ? "exclusive" : "shared"), last run \(lastRuns[jobs[i].name].map { "\(C.minutes(of: $0))" } ?? "none")"
        }
        return (["start minute \(C.minutes(of: start)), catch-up \(Int(catchUp / 60)) min"] + lines).joined(separator: "\n")
    }

    /// The latest fire time in (max(lastRun, start − catchUp), start], by scanning minutes.
    private func expectedCatchUp(_ i: Int) -> Date? {
        let windowStart = start.addingTimeInterval(-catchUp)
        let lower = max(lastRuns[jobs[i].name] ?? windowStart, windowStart)
        var latest: Date?
        var m = Int(C.minutes(of: lower).rounded(.down))
        while C.minute(Double(m)) <= start {
            let at = C.minute(Double(m))
            if at > lower, times[i].fires(atMinute: m) { latest = at }
            m += 1
        }
        return latest
    }

    /// Runs the simulation; the first broken rule, or nil.
    mutating func run() -> String? {
        var scheduler = Scheduler(jobs: jobs, catchUp: catchUp, lastRuns: lastRuns, now: start)
        let index = Dictionary(uniqueKeysWithValues: jobs.enumerated().map { ($1.name, $0) })
        var clock = start
        // What each job is owed, oldest first: (time it is for, why).
        var owed: [[(Date, StartReason)]] = jobs.indices.map { i in
            expectedCatchUp(i).map { [($0, $0 < start ? StartReason.catchUp : .scheduled)] } ?? []
        }
        counts.catchUps += owed.filter { $0.first?.1 == .catchUp }.count
        var live: [Int: Live] = [:]
        if let failure = agree(scheduler, owed, live, clock, dispatched: false) { return "after init: \(failure)" }

        for step in 0..<rng.int(50...300) {
            let next = clock.addingTimeInterval(Double(rng.int(0...40) * 15))
            let event: SchedulerEvent
            if let (i, run) = live.min(by: { ($0.value.finishAt, $0.key) < ($1.value.finishAt, $1.key) }).map({ ($0.key, $0.value) }),
               run.finishAt <= next {
                let outcome: JobOutcome = run.cancelled ? .timedOut : (rng.chance(0.3) ? .failed("boom") : .succeeded)
                event = .finished(job: jobs[i].name, at: run.finishAt, outcome: outcome)
                live[i] = nil
            } else {
                let roll = rng.int(0...99)
                let name = rng.chance(0.9) ? jobs[rng.int(0...jobs.count - 1)].name : "ghost"
                if roll < 8 {
                    event = .requested(job: name, at: next)
                } else if roll < 12, index[name].map({ live[$0] == nil }) ?? true {
                    event = .finished(job: name, at: next, outcome: .succeeded)   // not running: ignored
                } else if roll < 15 {
                    event = .tick(clock.addingTimeInterval(-300))                 // the wall clock stepped back
                } else {
                    event = .tick(next)
                }
            }
            let eventTime: Date
            switch event {
            case .tick(let t), .finished(_, let t, _), .requested(_, let t): eventTime = t
            }
            let newClock = max(clock, eventTime)
            let first = Int(C.minutes(of: clock).rounded(.down)) + 1
            let last = Int(C.minutes(of: newClock).rounded(.down))
            if first <= last {
                for i in jobs.indices {
                    for m in first...last where times[i].fires(atMinute: m) {
                        if !owed[i].isEmpty { counts.coalesced += 1 }
                        owed[i].append((C.minute(Double(m)), .scheduled))
                    }
                }
            }
            clock = newClock
            if case .requested(let name, _) = event, let i = index[name] {
                owed[i].append((clock, .requested))
                counts.requested += 1
            }

            for action in scheduler.handle(event) {
                switch action {
                case .cancel(let name, let reason):
                    guard let i = index[name], var run = live[i] else { return "step \(step): cancel of \(name), which is not running" }
                    guard reason == .timeout, !run.cancelled, clock >= run.deadline else {
                        return "step \(step): cancel of \(name) at \(C.minutes(of: clock)), deadline \(C.minutes(of: run.deadline)), cancelled before: \(run.cancelled)"
                    }
                    run.cancelled = true
                    run.finishAt = clock.addingTimeInterval(Double(rng.int(0...120) * 15))
                    live[i] = run
                    counts.cancels += 1
                case .start(let s):
                    guard let i = index[s.name] else { return "step \(step): start of unknown \(s.name)" }
                    if let failure = checkStart(s, i, owed, live, clock) { return "step \(step): \(failure)" }
                    if live.contains(where: { jobs[$0.key].exclusive && !$0.value.cancelled }) || s.scheduledFor < clock {
                        counts.waitedForAnother += 1
                    }
                    owed[i] = []
                    let timeout = jobs[i].timeout
                    let duration = rng.chance(0.3) ? timeout + Double(rng.int(1...240) * 15) : Double(rng.int(0...Int(timeout / 15)) * 15)
                    live[i] = Live(deadline: s.deadline, finishAt: clock.addingTimeInterval(duration), cancelled: false)
                }
            }
            if let failure = agree(scheduler, owed, live, clock) { return "step \(step) (\(event)) at minute \(C.minutes(of: clock)): \(failure)" }
        }
        return nil
    }

    private func checkStart(_ s: JobStart, _ i: Int, _ owed: [[(Date, StartReason)]], _ live: [Int: Live], _ clock: Date) -> String? {
        guard live[i] == nil else { return "\(s.name) started while its previous run is not over" }
        guard let (due, reason) = owed[i].first.map({ ($0.0, $0.1) }) else { return "\(s.name) started but is owed no run" }
        guard s.scheduledFor == due, s.reason == reason, s.late == (reason == .catchUp) else {
            return "\(s.name) started for \(C.minutes(of: s.scheduledFor)) (\(s.reason), late \(s.late)), owed \(C.minutes(of: due)) (\(reason))"
        }
        guard s.scheduledFor <= clock else { return "\(s.name) started before it was due" }
        guard s.deadline == clock.addingTimeInterval(jobs[i].timeout) else { return "\(s.name)'s deadline is not start + timeout" }
        guard jobs[i].exclusive else { return nil }
        if let (k, _) = live.first(where: { jobs[$0.key].exclusive && !$0.value.cancelled }) {
            return "\(s.name) started while \(jobs[k].name) (exclusive) runs"
        }
        for k in jobs.indices where k != i && jobs[k].exclusive && live[k] == nil {
            if let (kDue, _) = owed[k].first, (kDue, k) < (due, i) {
                return "\(s.name) (owed since \(C.minutes(of: due))) started ahead of \(jobs[k].name) (owed since \(C.minutes(of: kDue)))"
            }
        }
        return nil
    }

    /// `dispatched`: false right after `init`, whose owed runs start with the first event.
    private func agree(_ scheduler: Scheduler, _ owed: [[(Date, StartReason)]], _ live: [Int: Live], _ clock: Date,
                       dispatched: Bool = true) -> String? {
        let exclusiveRuns = live.filter { jobs[$0.key].exclusive && !$0.value.cancelled }.count
        for i in jobs.indices {
            if let run = live[i], !run.cancelled, clock >= run.deadline { return "\(jobs[i].name) is past its deadline and not cancelled" }
            if dispatched, !owed[i].isEmpty, live[i] == nil, !jobs[i].exclusive || exclusiveRuns == 0 {
                return "\(jobs[i].name) is owed a run since \(C.minutes(of: owed[i][0].0)) and nothing holds it back"
            }
            guard let status = scheduler.status(of: jobs[i].name) else { return "no status for \(jobs[i].name)" }
            guard status.waitingSince == owed[i].first?.0, status.waitingReason == owed[i].first?.1 else {
                return "\(jobs[i].name) shows waiting since \(status.waitingSince.map { "\(C.minutes(of: $0))" } ?? "never"), owed \(owed[i].first.map { "\(C.minutes(of: $0.0))" } ?? "nothing")"
            }
            guard (status.runningSince != nil) == (live[i] != nil), status.cancelRequested == (live[i]?.cancelled ?? false) else {
                return "\(jobs[i].name)'s running state disagrees"
            }
            guard status.nextDue == times[i].next(after: clock) else { return "\(jobs[i].name)'s next due time disagrees" }
        }
        let wakes = jobs.indices.compactMap { times[$0].next(after: clock) } + live.values.filter { !$0.cancelled }.map(\.deadline)
        guard scheduler.nextWake() == wakes.min() else { return "nextWake \(String(describing: scheduler.nextWake())), expected \(String(describing: wakes.min()))" }
        return nil
    }
}
