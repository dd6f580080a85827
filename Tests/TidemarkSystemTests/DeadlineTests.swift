#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import TidemarkSystem

/// `withDeadline` and the pool threads it reuses: a slow call becomes a timeout, work never
/// waits behind a stuck call, and a finished thread takes the next call instead of a new thread.
@Suite("I/O deadlines and reusable threads")
struct DeadlineTests {
    @Test func aCallThatOverrunsItsDeadlineIsATimeoutAndLaterCallsStillRun() async throws {
        let release = Gate()
        await #expect(throws: StorageError.self) {
            try await withDeadline(seconds: 0.2, key: "slow") { release.wait() }
        }
        // The stuck call still holds its thread; the next call must not wait for it.
        let value = try await withDeadline(seconds: 5, key: "quick") { 42 }
        #expect(value == 42)
        release.open()
    }

    @Test func workNeverQueuesBehindBusyThreads() async throws {
        let pool = BlockingPool(maximumThreads: 64, idleSeconds: 5)
        let gate = Gate()
        let ran = Atomic<Int>(0)
        for _ in 0..<6 {
            #expect(pool.submit { gate.wait(); ran.add(1, ordering: .relaxed) })
        }
        // All six block at once: each got a thread of its own.
        let done = Gate()
        #expect(pool.submit { done.open() })
        #expect(await done.waitAsync(seconds: 5), "a seventh job ran while six others were blocked")
        gate.open()
        for _ in 0..<500 where ran.load(ordering: .relaxed) < 6 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(ran.load(ordering: .relaxed) == 6)
    }

    @Test func aFinishedThreadTakesTheNextJob() async throws {
        // Parked long enough that a test process busy with other suites cannot outwait it.
        let pool = BlockingPool(maximumThreads: 64, idleSeconds: 600)
        // A thread-specific mark set by the first job: a new thread starts without it.
        var key = pthread_key_t()
        #expect(pthread_key_create(&key, nil) == 0)
        let markKey = key
        let firstDone = Gate()
        #expect(pool.submit { pthread_setspecific(markKey, UnsafeRawPointer(bitPattern: 0x7E)); firstDone.open() })
        #expect(await firstDone.waitAsync(seconds: 5))
        for _ in 0..<500 where pool.idleCount == 0 { try await Task.sleep(for: .milliseconds(10)) }  // let it park
        let sawMark = Mutex(false)
        let secondDone = Gate()
        #expect(pool.submit {
            let mark = pthread_getspecific(markKey)
            sawMark.withLock { $0 = mark != nil }
            secondDone.open()
        })
        #expect(await secondDone.waitAsync(seconds: 5))
        #expect(sawMark.withLock { $0 }, "the parked thread ran the second job")
    }

    @Test func idleThreadsExitAfterTheirIdleTime() async throws {
        let pool = BlockingPool(maximumThreads: 64, idleSeconds: 0.05)
        let done = Gate()
        #expect(pool.submit { done.open() })
        #expect(await done.waitAsync(seconds: 5))
        try await Task.sleep(for: .milliseconds(20))
        for _ in 0..<500 where pool.idleCount > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(pool.idleCount == 0, "the parked thread left after its idle time")
        let again = Gate()
        #expect(pool.submit { again.open() })
        #expect(await again.waitAsync(seconds: 5), "a new thread runs work after the others left")
    }
}

/// A latch: plain threads wait on it with `wait`, test bodies with `waitAsync` (which sleeps
/// without holding one of the few cooperative threads other tests need).
final class Gate: Sendable {
    func waitAsync(seconds: Double) async -> Bool {
        let tries = Int(seconds * 1000)
        for _ in 0..<tries {
            if state.withLock({ $0 }) { return true }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return state.withLock { $0 }
    }

    private let state = Mutex(false)
    func open() { state.withLock { $0 = true } }
    func wait() { while !state.withLock({ $0 }) { usleep(1000) } }
}
