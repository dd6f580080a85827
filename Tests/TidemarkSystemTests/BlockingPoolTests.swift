#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import TidemarkSystem

/// The one pool for blocking work: bounded, queued only at its bound, never without its timer,
/// cancellable while queued; lanes keep a session's calls on one thread.
@Suite("blocking pool: bound, timer, cancellation, lanes")
struct BlockingPoolTests {
    @Test func theBoundIsNeverExceededAndQueuedWorkRunsWhenAThreadFrees() async throws {
        let pool = BlockingPool(maximumThreads: 3, idleSeconds: 5)
        let gate = Gate()
        for _ in 0..<3 { #expect(pool.submit { gate.wait() }) }
        let fourth = Gate()
        #expect(pool.submit { fourth.open() }, "at the bound, work is queued, not refused")
        #expect(!(await fourth.waitAsync(seconds: 0.2)), "the fourth job waits while three threads are busy")
        #expect(pool.threadCount == 3)
        gate.open()
        #expect(await fourth.waitAsync(seconds: 5), "the queued job runs once a thread frees up")
        #expect(pool.threadCount <= 3)
    }

    @Test func aCallQueuedAtTheBoundStillTimesOutOnTimeAndNeverRunsLate() async throws {
        let pool = BlockingPool(maximumThreads: 1, idleSeconds: 5)
        let gate = Gate()
        #expect(pool.submit { gate.wait() })
        let ran = Atomic<Bool>(false)
        // The pool's only thread stays blocked until the call has returned: its timer did not
        // need a pool thread.
        do {
            _ = try await pool.withDeadline(seconds: 0.2, key: "queued") { ran.store(true, ordering: .relaxed) }
            Issue.record("a call queued behind a busy thread past its deadline returned")
        } catch let error as StorageError {
            #expect(error.code == .timeout)
            #expect(error.message == "unable to complete I/O on 'queued': no answer within 0.2 s")
        }
        gate.open()
        try await Task.sleep(for: .milliseconds(200))
        let didRun = ran.load(ordering: .relaxed)
        #expect(!didRun, "work that timed out in the queue is dropped, not run late")
    }

    @Test func aCallWhoseTimerCannotStartFailsLoudlyAndNeverRuns() async throws {
        let pool = BlockingPool(maximumThreads: 4, idleSeconds: 5, timer: DeadlineTimer(startThread: { _ in false }))
        let ran = Atomic<Bool>(false)
        do {
            _ = try await pool.withDeadline(seconds: 5, key: "/repo/wal/x") { ran.store(true, ordering: .relaxed) }
            Issue.record("a call ran without its deadline timer")
        } catch let error as StorageError {
            #expect(error.code == .io)
            #expect(error.message.contains("unable to start the deadline timer for I/O on '/repo/wal/x'"))
        }
        try await Task.sleep(for: .milliseconds(100))
        let didRun = ran.load(ordering: .relaxed)
        #expect(!didRun)
    }

    @Test func aCallWithoutAThreadFailsLoudly() async throws {
        let pool = BlockingPool(maximumThreads: 4, idleSeconds: 5, startThread: { _ in false }, timer: DeadlineTimer())
        await #expect(throws: StorageError.self) {
            try await pool.withDeadline(seconds: 5, key: "k") { 1 }
        }
        #expect(pool.threadCount == 0)
    }

    @Test func cancellingATaskWithdrawsItsQueuedCall() async throws {
        let pool = BlockingPool(maximumThreads: 1, idleSeconds: 5)
        let gate = Gate()
        #expect(pool.submit { gate.wait() })
        let ran = Atomic<Bool>(false)
        let task = Task { try await pool.withDeadline(seconds: 30, key: "k") { ran.store(true, ordering: .relaxed) } }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        // A timeout (after 30 s) would be a StorageError: cancellation answered first.
        await #expect(throws: CancellationError.self) { try await task.value }
        gate.open()
        try await Task.sleep(for: .milliseconds(200))
        let didRun = ran.load(ordering: .relaxed)
        #expect(!didRun, "withdrawn work never runs")
    }

    @Test func settledCallsDoNotPileUpInTheTimer() async throws {
        let pool = BlockingPool(maximumThreads: 4, idleSeconds: 5)
        for i in 0..<2000 { #expect(try await pool.withDeadline(seconds: 60, key: "k") { i } == i) }
        #expect(pool.timer.armedCount <= 512, "the timer holds \(pool.timer.armedCount) entries for 0 pending calls")
    }

    @Test func aSettledCallLetsGoOfWhatItsWorkCapturedWhileTheTimerStillHoldsIt() async throws {
        let pool = BlockingPool(maximumThreads: 4, idleSeconds: 5)
        // A pending call with an earlier deadline keeps the timer asleep past the next one.
        let gate = Gate()
        let pending = Task { try await pool.withDeadline(seconds: 30, key: "pending") { gate.wait() } }
        for _ in 0..<500 where pool.timer.armedCount == 0 { try await Task.sleep(for: .milliseconds(10)) }
        weak var released: Payload?
        do {
            let payload = Payload(bytes: [UInt8](repeating: 7, count: 1 << 20))
            released = payload
            #expect(try await pool.withDeadline(seconds: 60, key: "k") { payload.bytes.count } == 1 << 20)
        }
        #expect(pool.timer.armedCount == 2, "the timer still holds the settled call")
        for _ in 0..<500 where released != nil { try await Task.sleep(for: .milliseconds(10)) }
        #expect(released == nil, "a settled call keeps no buffer its work captured")
        gate.open()
        _ = try await pending.value
    }

    @Test func aLaneRunsItsJobsInOrderOnOneThreadAndGivesItBack() async throws {
        let pool = BlockingPool(maximumThreads: 4, idleSeconds: 600)
        let lane = try #require(pool.openLane(name: "test-lane"))
        let seen = LockedBox<[(Int, pthread_t)]>([])
        for i in 0..<100 { #expect(lane.submit { seen.mutate { $0.append((i, pthread_self())) } }) }
        lane.stop()
        #expect(!lane.submit {}, "a stopped lane takes no more work")
        for _ in 0..<500 where pool.idleCount == 0 { try await Task.sleep(for: .milliseconds(10)) }
        let runs = seen.value
        #expect(runs.map(\.0) == Array(0..<100), "queued jobs all ran, in order, after stop()")
        #expect(Set(runs.map { UInt($0.1) }).count == 1, "every job ran on the lane's one thread")
        #expect(pool.idleCount == 1, "the lane's thread went back to the pool")
    }

    @Test func aLaneIsRefusedRatherThanQueuedAtTheBound() async throws {
        let pool = BlockingPool(maximumThreads: 1, idleSeconds: 5)
        let gate = Gate()
        #expect(pool.submit { gate.wait() })
        #expect(pool.openLane(name: "refused") == nil)
        gate.open()
    }
}

private final class Payload: Sendable {
    let bytes: [UInt8]
    init(bytes: [UInt8]) { self.bytes = bytes }
}

@Suite("blocking pool: parallelFor")
struct ParallelForTests {
    @Test(arguments: [1, 3, 8])
    func everyIterationRunsOnceOnAtMostWidthThreads(width: Int) async throws {
        let pool = BlockingPool(maximumThreads: 16, idleSeconds: 5)
        let counts = LockedBox([Int](repeating: 0, count: 200))
        let active = Atomic<Int>(0)
        let widest = Atomic<Int>(0)
        let order = LockedBox<[Int]>([])
        await pool.parallelFor(count: 200, width: width) { i in
            order.mutate { $0.append(i) }
            let now = active.wrappingAdd(1, ordering: .relaxed).newValue
            _ = widest.max(now, ordering: .relaxed)
            usleep(200)
            counts.mutate { $0[i] += 1 }
            active.wrappingSubtract(1, ordering: .relaxed)
        }
        #expect(counts.value == [Int](repeating: 1, count: 200))
        let widestSeen = widest.load(ordering: .relaxed)
        #expect(widestSeen <= width)
        #expect(order.value.first == 0, "iteration 0 starts first")
    }

    @Test func theBlockingFormFinishesOnAFullPoolAndInsideAPoolThread() async throws {
        let pool = BlockingPool(maximumThreads: 1, idleSeconds: 5)
        let sum = Atomic<Int>(0)
        let done = Gate()
        // The pool's only thread runs a parallelFor: no helper can come, the caller does it all.
        #expect(pool.submit {
            pool.parallelFor(count: 100, width: 4) { i in sum.wrappingAdd(i, ordering: .relaxed) }
            done.open()
        })
        #expect(await done.waitAsync(seconds: 10), "a parallelFor on a full pool finished")
        let total = sum.load(ordering: .relaxed)
        #expect(total == 4950)
    }
}
