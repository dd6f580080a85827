#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore

extension BlockingPool {
    /// Leases a pool thread to one owner: the returned lane runs its jobs on that thread alone,
    /// in submission order, until `stop()`, and then gives the thread back. For work that must
    /// stay on one thread (libpq: one connection is never used from two threads) or that blocks
    /// for long (a replication stream). Nil when no thread is free now and none may be started
    /// (the pool at its bound, or the system refusing): a lane is never queued behind other work.
    package func openLane(name: String) -> Lane? {
        let lane = Lane()
        let started = startNow {
            nameCurrentThread(name)
            lane.run()
            nameCurrentThread("tidemark-pool")
        }
        return started ? lane : nil
    }
}

/// A pool thread leased by `BlockingPool.openLane`.
///
/// Contract: jobs run in submission order, one at a time, all on the same thread. `stop()`
/// lets already-submitted jobs run (so every continuation they hold is resumed) and then returns
/// the thread to the pool; `submit` after `stop()` returns false and does not run the job.
package final class Lane: @unchecked Sendable {
    private let state = ConditionLock()
    // Guarded by `state`:
    private var jobs = JobQueue()
    private var stopped = false

    fileprivate init() {}

    /// Queues `job`; false when the lane has been stopped.
    @discardableResult
    package func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        state.withLock {
            guard !stopped else { return false }
            jobs.append(job)
            state.signal()
            return true
        }
    }

    /// Ends the lease once the queued jobs have run. Idempotent; does not wait.
    package func stop() {
        state.withLock {
            stopped = true
            state.signal()
        }
    }

    fileprivate func run() {
        while true {
            state.lock()
            while jobs.isEmpty && !stopped { state.wait() }
            guard let job = jobs.popFirst() else {
                state.unlock()
                return
            }
            state.unlock()
            job()
        }
    }
}
