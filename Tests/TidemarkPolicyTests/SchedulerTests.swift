import Foundation
import Testing
import TidemarkPolicy

/// Worked examples of the scheduler's rules (issue 14 "Scheduler"); the property test
/// (SchedulerPropertyTests) checks the same rules over generated schedules.
@Suite("Scheduler")
struct SchedulerTests {
    typealias C = SchedulerClock

    static func job(_ name: String, _ times: MinuteTimes, timeout minutes: Double = 60, exclusive: Bool = true) -> ScheduledJob {
        ScheduledJob(name: name, times: times, timeout: minutes * 60, exclusive: exclusive)
    }

    static func scheduler(_ jobs: [ScheduledJob], at minute: Double = 0, catchUp hours: Double = 6,
                          lastRuns: [String: Double] = [:]) -> Scheduler {
        Scheduler(jobs: jobs, catchUp: hours * 3600, lastRuns: lastRuns.mapValues { C.minute($0) }, now: C.minute(minute))
    }

    @Test func startsAtTheFireTimeAndNotBefore() {
        var s = Self.scheduler([Self.job("incremental", .every(10), timeout: 30)], at: 1, catchUp: 0)
        #expect(s.handle(.tick(C.minute(1))).isEmpty)
        #expect(s.handle(.tick(C.minute(9.99))).isEmpty)
        #expect(s.status(of: "incremental")?.nextDue == C.minute(10))
        let actions = s.handle(.tick(C.minute(10)))
        #expect(actions == [.start(JobStart(name: "incremental", scheduledFor: C.minute(10), late: false,
                                            deadline: C.minute(40), reason: .scheduled))])
        #expect(s.status(of: "incremental")?.runningSince == C.minute(10))
        #expect(s.status(of: "incremental")?.nextDue == C.minute(20))
        #expect(s.lastRuns == ["incremental": C.minute(10)])
    }

    @Test func aFireTimeAtTheStartInstantIsDueNotLate() {
        var s = Self.scheduler([Self.job("incremental", .every(10))], at: 0)
        #expect(s.handle(.tick(C.minute(0))).map(\.started?.reason) == [.scheduled])
    }

    @Test func aJobDueWhileAnotherRunsWaitsThenRunsOnce() {
        var s = Self.scheduler([Self.job("full", .at([10])), Self.job("expire", .every(5))])
        #expect(s.handle(.tick(C.minute(5))).startedNames == ["expire"])
        #expect(s.handle(.finished(job: "expire", at: C.minute(6), outcome: .succeeded)).isEmpty)
        #expect(s.handle(.tick(C.minute(10))).startedNames == ["full"])   // expire is due too: it waits
        for m in [15.0, 20, 25, 30, 35] { #expect(s.handle(.tick(C.minute(m))).isEmpty) }
        #expect(s.status(of: "expire")?.waitingSince == C.minute(10))
        let after = s.handle(.finished(job: "full", at: C.minute(37), outcome: .succeeded))
        #expect(after.map(\.started) == [JobStart(name: "expire", scheduledFor: C.minute(10), late: false,
                                                  deadline: C.minute(97), reason: .scheduled)])
        #expect(s.handle(.finished(job: "expire", at: C.minute(38), outcome: .succeeded)).isEmpty)
        #expect(s.handle(.tick(C.minute(39))).isEmpty)                     // the coalesced fire times are spent
        #expect(s.handle(.tick(C.minute(40))).startedNames == ["expire"])
    }

    @Test func aJobDueWhileItselfRunsRunsOnceAfter() {
        var s = Self.scheduler([Self.job("verify", .every(1), timeout: 120, exclusive: false)])
        #expect(s.handle(.tick(C.minute(1))).startedNames == ["verify"])
        #expect(s.handle(.tick(C.minute(4))).isEmpty)
        #expect(s.status(of: "verify")?.waitingSince == C.minute(2))
        #expect(s.handle(.finished(job: "verify", at: C.minute(4.5), outcome: .failed("boom"))).startedNames == ["verify"])
        #expect(s.status(of: "verify")?.lastOutcome == .failed("boom"))
        #expect(s.status(of: "verify")?.lastFinished == C.minute(4.5))
    }

    @Test func tiesGoByScheduledTimeThenDeclaration() {
        var s = Self.scheduler([Self.job("a", .at([1])), Self.job("c", .at([12])), Self.job("b", .at([11])),
                                Self.job("d", .at([12]))])
        #expect(s.handle(.tick(C.minute(1))).startedNames == ["a"])
        #expect(s.handle(.tick(C.minute(13))).isEmpty)
        // b waited since 11, c and d since 12 (c declared first).
        #expect(s.handle(.finished(job: "a", at: C.minute(14), outcome: .succeeded)).startedNames == ["b"])
        #expect(s.handle(.finished(job: "b", at: C.minute(15), outcome: .succeeded)).startedNames == ["c"])
        #expect(s.handle(.finished(job: "c", at: C.minute(16), outcome: .succeeded)).startedNames == ["d"])
    }

    @Test func sameInstantStartsTheFirstDeclared() {
        var s = Self.scheduler([Self.job("full", .at([120])), Self.job("incremental", .at([120])),
                                Self.job("metrics", .at([120]), exclusive: false)])
        #expect(s.handle(.tick(C.minute(120))).startedNames == ["full", "metrics"])
        #expect(s.handle(.finished(job: "full", at: C.minute(130), outcome: .succeeded)).startedNames == ["incremental"])
    }

    @Test func nonExclusiveJobsRunBesideExclusiveOnes() {
        var s = Self.scheduler([Self.job("full", .at([10])), Self.job("report", .at([11]), exclusive: false)])
        #expect(s.handle(.tick(C.minute(10))).startedNames == ["full"])
        #expect(s.handle(.tick(C.minute(11))).startedNames == ["report"])
    }

    @Test func catchUpRunsTheMostRecentMissedFireTimeOnceAndLate() {
        // Hourly; last ran at 2:00, down until 5:30: 3:00, 4:00, 5:00 were missed.
        var s = Self.scheduler([Self.job("incremental", .every(60))], at: 330, catchUp: 6, lastRuns: ["incremental": 120])
        #expect(s.status(of: "incremental")?.waitingReason == .catchUp)
        let actions = s.handle(.tick(C.minute(330)))
        #expect(actions == [.start(JobStart(name: "incremental", scheduledFor: C.minute(300), late: true,
                                            deadline: C.minute(390), reason: .catchUp))])
        #expect(s.status(of: "incremental")?.nextDue == C.minute(360))
    }

    @Test(arguments: [(1800, false), (1801, true), (1740, false)] as [(Double, Bool)])
    func catchUpWindowIsHalfOpen(catchUp seconds: Double, runs: Bool) {
        // Missed 5:00, now 5:30: exactly the window's length ago is outside it.
        var s = Scheduler(jobs: [Self.job("full", .every(60))], catchUp: seconds,
                          lastRuns: ["full": C.minute(0)], now: C.minute(330))
        #expect(s.handle(.tick(C.minute(330))).startedNames == (runs ? ["full"] : []))
        #expect(s.status(of: "full")?.nextDue == C.minute(360))
    }

    @Test func olderMissesAreDroppedButTheNextTimeIsKept() {
        var s = Self.scheduler([Self.job("monthly", .at([60, 10_000]))], at: 600, catchUp: 6, lastRuns: ["monthly": 0])
        #expect(s.handle(.tick(C.minute(600))).isEmpty)
        #expect(s.status(of: "monthly")?.waitingSince == nil)
        #expect(s.status(of: "monthly")?.nextDue == C.minute(10_000))
        #expect(s.nextWake() == C.minute(10_000))
    }

    @Test func withoutALastRunTheWindowAloneDecides() {
        var inside = Self.scheduler([Self.job("a", .at([100])), Self.job("b", .at([10]))], at: 400, catchUp: 6)
        #expect(inside.handle(.tick(C.minute(400))).startedNames == ["a"])
    }

    @Test func aRunAfterTheMissedFireTimeCoversIt() {
        var s = Self.scheduler([Self.job("full", .at([100]))], at: 200, lastRuns: ["full": 150])
        #expect(s.handle(.tick(C.minute(200))).isEmpty)
    }

    @Test func catchUpRunsQueueInTheirOrder() {
        var s = Self.scheduler([Self.job("expire", .at([250])), Self.job("full", .at([200])),
                                Self.job("report", .at([260]), exclusive: false)], at: 300)
        #expect(s.handle(.tick(C.minute(300))).startedNames == ["full", "report"])
        let next = s.handle(.finished(job: "full", at: C.minute(310), outcome: .succeeded))
        #expect(next.map(\.started?.late) == [true])
        #expect(next.startedNames == ["expire"])
    }

    @Test func aRunPastItsDeadlineIsCancelledAndNoLongerBlocks() {
        var s = Self.scheduler([Self.job("full", .at([10]), timeout: 5), Self.job("expire", .at([11, 13]))])
        #expect(s.handle(.tick(C.minute(10))).startedNames == ["full"])
        #expect(s.nextWake() == C.minute(11))
        #expect(s.handle(.tick(C.minute(11))).isEmpty)
        #expect(s.nextWake() == C.minute(13))
        #expect(s.handle(.tick(C.minute(14.99))).isEmpty)
        let atDeadline = s.handle(.tick(C.minute(15)))
        #expect(atDeadline == [.cancel(job: "full", reason: .timeout),
                               .start(JobStart(name: "expire", scheduledFor: C.minute(11), late: false,
                                               deadline: C.minute(75), reason: .scheduled))])
        #expect(s.status(of: "full")?.lastOutcome == .timedOut)
        #expect(s.status(of: "full")?.cancelRequested == true)
        #expect(s.handle(.tick(C.minute(16))).isEmpty)           // one cancel, not one per tick
        // The runner's report of the cancelled run is harmless.
        #expect(s.handle(.finished(job: "full", at: C.minute(17), outcome: .timedOut)).isEmpty)
        #expect(s.status(of: "expire")?.runningSince == C.minute(15))
        #expect(s.status(of: "full")?.lastOutcome == .timedOut)
        #expect(s.status(of: "full")?.lastFinished == C.minute(15))
    }

    @Test func aCancelledJobDoesNotStartAgainUntilItsRunEnds() {
        var s = Self.scheduler([Self.job("full", .every(10), timeout: 5)])
        #expect(s.handle(.tick(C.minute(10))).startedNames == ["full"])
        #expect(s.handle(.tick(C.minute(15))).cancelledNames == ["full"])
        #expect(s.handle(.tick(C.minute(20))).isEmpty)
        #expect(s.status(of: "full")?.waitingSince == C.minute(20))
        #expect(s.handle(.finished(job: "full", at: C.minute(21), outcome: .timedOut)).startedNames == ["full"])
    }

    @Test func aRunThatReportsAtItsDeadlineIsNotCancelled() {
        var s = Self.scheduler([Self.job("full", .at([10]), timeout: 5)])
        _ = s.handle(.tick(C.minute(10)))
        #expect(s.handle(.finished(job: "full", at: C.minute(15), outcome: .succeeded)).isEmpty)
        #expect(s.status(of: "full")?.lastOutcome == .succeeded)
    }

    @Test func finishedForAnUnknownOrIdleJobIsIgnored() {
        var s = Self.scheduler([Self.job("full", .at([10])), Self.job("expire", .at([11]))])
        _ = s.handle(.tick(C.minute(10)))
        let before = s.jobs
        #expect(s.handle(.finished(job: "nope", at: C.minute(10.5), outcome: .succeeded)).isEmpty)
        #expect(s.handle(.finished(job: "expire", at: C.minute(10.5), outcome: .failed("x"))).isEmpty)
        #expect(s.jobs == before)
    }

    @Test func requestedRunsStartAsSoonAsTheLockIsFree() {
        var s = Self.scheduler([Self.job("full", .at([10])), Self.job("verify", .at([1000]))])
        let now = s.handle(.requested(job: "verify", at: C.minute(1)))
        #expect(now == [.start(JobStart(name: "verify", scheduledFor: C.minute(1), late: false,
                                        deadline: C.minute(61), reason: .requested))])
        #expect(s.handle(.requested(job: "nope", at: C.minute(2))).isEmpty)
        #expect(s.handle(.tick(C.minute(10))).isEmpty)            // full waits for verify
        #expect(s.handle(.requested(job: "verify", at: C.minute(11))).isEmpty)
        #expect(s.handle(.requested(job: "verify", at: C.minute(12))).isEmpty)  // covered by the owed one
        #expect(s.status(of: "verify")?.waitingSince == C.minute(11))
        let after = s.handle(.finished(job: "verify", at: C.minute(20), outcome: .succeeded))
        #expect(after.startedNames == ["full"])                   // due at 10, before the request at 11
        #expect(s.handle(.finished(job: "full", at: C.minute(21), outcome: .succeeded)).map(\.started?.reason) == [.requested])
    }

    @Test func aRequestForAJobAlreadyOwedARunIsCoveredByIt() {
        var s = Self.scheduler([Self.job("full", .at([10])), Self.job("expire", .at([11]))])
        _ = s.handle(.tick(C.minute(11)))
        #expect(s.handle(.requested(job: "expire", at: C.minute(12))).isEmpty)
        #expect(s.handle(.finished(job: "full", at: C.minute(13), outcome: .succeeded)).map(\.started?.reason) == [.scheduled])
        #expect(s.handle(.finished(job: "expire", at: C.minute(14), outcome: .succeeded)).isEmpty)
    }

    @Test func nextWakeIsTheEarliestFireTimeOrDeadline() {
        var s = Self.scheduler([Self.job("full", .at([10]), timeout: 30), Self.job("expire", .at([50]))])
        #expect(s.nextWake() == C.minute(10))
        _ = s.handle(.tick(C.minute(10)))
        #expect(s.nextWake() == C.minute(40))
        _ = s.handle(.finished(job: "full", at: C.minute(20), outcome: .succeeded))
        #expect(s.nextWake() == C.minute(50))
        _ = s.handle(.tick(C.minute(50)))
        #expect(s.nextWake() == C.minute(110))
        _ = s.handle(.finished(job: "expire", at: C.minute(51), outcome: .succeeded))
        #expect(s.nextWake() == nil)
    }

    @Test func theClockNeverGoesBack() {
        var s = Self.scheduler([Self.job("full", .every(10))])
        #expect(s.handle(.tick(C.minute(10))).startedNames == ["full"])
        #expect(s.handle(.finished(job: "full", at: C.minute(11), outcome: .succeeded)).isEmpty)
        #expect(s.handle(.tick(C.minute(5))).isEmpty)
        #expect(s.now == C.minute(11))
        #expect(s.status(of: "full")?.nextDue == C.minute(20))
    }

    @Test func aBrokenRunTimesDoesNotSpin() {
        var s = Scheduler(jobs: [ScheduledJob(name: "stuck", times: StuckTimes(), timeout: 60)],
                          catchUp: 3600, lastRuns: [:], now: C.minute(0))
        #expect(s.handle(.tick(C.minute(100))).isEmpty)
        #expect(s.nextWake() == nil)
    }

    @Test func aDuplicateNameKeepsTheFirstJob() {
        let s = Self.scheduler([Self.job("full", .at([10])), Self.job("full", .at([5]))])
        #expect(s.jobs.count == 1)
        #expect(s.nextWake() == C.minute(10))
    }

    @Test func aTimeoutThatIsNotPositiveMeansNoLimit() {
        var s = Self.scheduler([Self.job("full", .at([10]), timeout: 0)])
        _ = s.handle(.tick(C.minute(10)))
        #expect(s.handle(.tick(C.minute(100_000))).isEmpty)
        #expect(s.status(of: "full")?.deadline == .distantFuture)
    }
}
