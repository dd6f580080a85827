#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore

/// The one pool of plain OS threads for blocking work: file-system calls under a deadline
/// (`withDeadline`), parallel hashing and compression (`parallelFor`), CPU work awaited later
/// (`ThreadFuture`) and dedicated lanes (a libpq session's thread, `openLane`). Never Swift's
/// cooperative pool, which has one thread per core: two blocked calls there stall every task.
///
/// Contract:
/// - **Bounded.** At most `maximumThreads` threads exist at once (busy, parked or stuck).
///   `shared` allows `max(64, 4 × cores)`: far above what the work here needs at once (a
///   `parallelFor` as wide as the cores, a few uploads in flight, one lane per PostgreSQL
///   connection), and low enough that a dead NFS mount, whose every call hangs for good and so
///   keeps its thread, cannot make a long-running process start threads without end.
/// - **No waiting behind busy threads below the bound.** Work goes to a parked thread when one
///   is free, else to a new thread; only at the bound does it queue (first in, first out), and
///   a queued `withDeadline` call still times out on time: its timer is not a pool thread.
/// - **Reused.** A thread that finishes parks for `idleSeconds` waiting for more work, then
///   exits; a stuck thread never parks, so it is never handed new work. No thread is created
///   per call on the hot path (a wal-push makes a dozen file-system calls).
public final class BlockingPool: @unchecked Sendable {
    /// The pool every caller shares (bounded at `defaultMaximumThreads`, idle threads exit after 2 s).
    public static let shared = BlockingPool(maximumThreads: defaultMaximumThreads, idleSeconds: 2)

    public static var processorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
    /// `max(64, 4 × processorCount)`: see the type's contract.
    public static var defaultMaximumThreads: Int { max(64, 4 * processorCount) }

    package let maximumThreads: Int
    /// Times out `withDeadline` calls; its own thread, outside the bound.
    package let timer: DeadlineTimer
    private let idleSeconds: Double
    private let startThread: ThreadStarter
    private let state = ConditionLock()
    // Guarded by `state`:
    private var queue = JobQueue()
    private var threads = 0
    private var parked = 0

    /// A pool of at most `maximumThreads` threads that park `idleSeconds` before exiting.
    /// `startThread` and `timer` are replaceable for tests of the failure paths.
    package init(maximumThreads: Int, idleSeconds: Double, startThread: @escaping ThreadStarter = startDetachedThread,
                 timer: DeadlineTimer? = nil) {
        self.maximumThreads = max(1, maximumThreads)
        self.idleSeconds = idleSeconds
        self.startThread = startThread
        self.timer = timer ?? DeadlineTimer(startThread: startThread)
    }

    /// Threads that exist now: busy, parked or stuck (for tests and diagnostics).
    package var threadCount: Int { state.withLock { threads } }
    /// Threads parked waiting for work now (for tests).
    package var idleCount: Int { state.withLock { parked } }

    /// Runs `work` on a pool thread: a parked one, else a new one, else (at the bound) the next
    /// that frees up. False, and `work` never runs, when a thread was needed and the system
    /// refused to start one.
    package func submit(_ work: @escaping @Sendable () -> Void) -> Bool {
        dispatch(work, queueAtBound: true)
    }

    /// Runs `work` on a pool thread now (a parked one or a new one), never queued; false, and
    /// `work` never runs, at the bound or when no thread can be started.
    package func startNow(_ work: @escaping @Sendable () -> Void) -> Bool {
        dispatch(work, queueAtBound: false)
    }

    private func dispatch(_ work: @escaping @Sendable () -> Void, queueAtBound: Bool) -> Bool {
        state.lock()
        // A parked thread not already woken for a queued job takes it.
        if parked > queue.count {
            queue.append(work)
            state.signal()
            state.unlock()
            return true
        }
        guard threads < maximumThreads else {
            if queueAtBound { queue.append(work) }
            state.unlock()
            return queueAtBound
        }
        threads += 1
        state.unlock()
        if startThread({ [self] in loop(first: work) }) { return true }
        state.withLock { threads -= 1 }
        return false
    }

    private func loop(first: @escaping @Sendable () -> Void) {
        nameCurrentThread("tidemark-pool")
        var next: (@Sendable () -> Void)? = first
        while let work = next {
            work()
            next = nextJob()
        }
    }

    /// The next queued job, waiting up to `idleSeconds` for one; nil (and the thread no longer
    /// counted) when none came.
    private func nextJob() -> (@Sendable () -> Void)? {
        let deadline = monotonicNanoseconds(after: idleSeconds)
        state.lock()
        defer { state.unlock() }
        if let job = queue.popFirst() { return job }
        parked += 1
        defer { parked -= 1 }
        while queue.isEmpty {
            if !state.wait(untilNanoseconds: deadline), queue.isEmpty {
                threads -= 1
                return nil
            }
        }
        return queue.popFirst()
    }
}

/// A first-in-first-out queue of jobs without per-pop copying (an array and a head index).
package struct JobQueue {
    private var jobs: [(@Sendable () -> Void)?] = []
    private var head = 0

    package var count: Int { jobs.count - head }
    package var isEmpty: Bool { head == jobs.count }

    package mutating func append(_ job: @escaping @Sendable () -> Void) { jobs.append(job) }

    package mutating func popFirst() -> (@Sendable () -> Void)? {
        guard head < jobs.count else { return nil }
        let job = jobs[head]
        jobs[head] = nil
        head += 1
        if head == jobs.count {
            jobs.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024, head * 2 >= jobs.count {
            jobs.removeFirst(head)
            head = 0
        }
        return job
    }
}
