#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TidemarkCore

/// Runs blocking work (a file-system call that may hang on a dead NFS mount, say) on the shared
/// `BlockingPool` and gives up waiting after `seconds`. See `BlockingPool.withDeadline`.
public func withDeadline<T: Sendable>(seconds: Double, key: String, _ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await BlockingPool.shared.withDeadline(seconds: seconds, key: key, work)
}

extension BlockingPool {
    /// Runs `work` on a pool thread and gives up waiting after `seconds`.
    ///
    /// Contract:
    /// - A call stuck in the kernel cannot be cancelled: on timeout the caller gets
    ///   `StorageError.timeout` and the stuck thread is abandoned (it keeps its place in the
    ///   bound; commands exit soon after). Work still queued at its deadline (a pool at its bound)
    ///   times out the same way and never runs late.
    /// - The timer is armed before the work is handed over, on the pool's `DeadlineTimer` thread,
    ///   not on a pool thread that busy or stuck work could hold up. If the timer thread or a
    ///   worker cannot be started, the call fails at once with `StorageError.io`: work never runs
    ///   without its deadline.
    /// - Cancelling the task withdraws work that has not started (`CancellationError`); work that
    ///   is running is waited for (until its deadline), since a caller that went on to close its
    ///   descriptor under a running write could see that write land elsewhere.
    /// - Cost per call: two short uncontended critical sections (arming, handing over) and one
    ///   thread wake-up; no thread is created while parked threads are free.
    public func withDeadline<T: Sendable>(seconds: Double, key: String, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        let call = DeadlineCall(seconds: seconds, key: key, work: work)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                guard call.install(continuation) else {
                    call.settle(.failure(CancellationError()))
                    return
                }
                guard timer.arm(at: monotonicNanoseconds(after: seconds), call) else {
                    call.withdraw()
                    call.settle(.failure(StorageError(.io, key: key,
                        message: "unable to start the deadline timer for I/O on '\(key)': the system refused a new thread")))
                    return
                }
                guard submit({ call.runIfQueued() }) else {
                    call.withdraw()
                    call.settle(.failure(StorageError(.io, key: key, message: "unable to start an I/O thread for '\(key)'")))
                    return
                }
            }
        } onCancel: {
            call.cancel()
        }
    }
}

/// Something the timer can expire: a `withDeadline` call.
package protocol DeadlineExpiring: AnyObject, Sendable {
    /// True once the call has its answer (the timer then just drops it).
    var isSettled: Bool { get }
    func expire()
}

/// One `withDeadline` call: its phase (who may still run it) and its continuation, resumed once
/// by whoever settles it first (the work, the timer, a cancellation).
private final class DeadlineCall<T: Sendable>: DeadlineExpiring, @unchecked Sendable {
    private enum Phase: Int {
        case notInstalled, queued, running, withdrawn
    }
    private let phase = Atomic<Int>(Phase.notInstalled.rawValue)
    private let settled = Once()
    // Written by `install` before `phase` leaves `notInstalled`; then used and cleared only by
    // whoever wins `settled`.
    private var continuation: CheckedContinuation<T, any Error>?
    private let seconds: Double
    private let key: String
    // Owned by whoever moves `phase` out of `queued` (the worker runs it, a withdrawal drops it);
    // cleared then, because the timer keeps a settled call (not what it captured, a buffer
    // being written, say) until the call's deadline or the next compaction.
    private var work: (@Sendable () throws -> T)?

    init(seconds: Double, key: String, work: @escaping @Sendable () throws -> T) {
        self.seconds = seconds
        self.key = key
        self.work = work
    }

    var isSettled: Bool { settled.isClaimed }

    /// Stores the continuation and queues the call; false when it was cancelled before.
    func install(_ continuation: CheckedContinuation<T, any Error>) -> Bool {
        self.continuation = continuation
        return move(from: .notInstalled, to: .queued)
    }

    func settle(_ result: Result<T, any Error>) {
        guard settled.claim() else { return }
        continuation?.resume(with: result)
        continuation = nil
    }

    /// Makes sure the work never starts if it has not yet.
    func withdraw() {
        if move(from: .queued, to: .withdrawn) { work = nil }
    }

    /// On a pool thread: runs the work unless the call was withdrawn meanwhile.
    func runIfQueued() {
        guard move(from: .queued, to: .running), let work else { return }
        self.work = nil
        let result = Result { try work() }
        settle(result)
    }

    func expire() {
        withdraw()
        settle(.failure(StorageError(.timeout, key: key,
            message: "unable to complete I/O on '\(key)': no answer within \(formatSeconds(seconds))")))
    }

    func cancel() {
        if move(from: .notInstalled, to: .withdrawn) { return }  // the caller of `install` settles it
        if move(from: .queued, to: .withdrawn) {
            work = nil
            settle(.failure(CancellationError()))
        }
    }

    private func move(from: Phase, to: Phase) -> Bool {
        phase.compareExchange(expected: from.rawValue, desired: to.rawValue, ordering: .acquiringAndReleasing).exchanged
    }
}

/// The one thread that expires `withDeadline` calls: a min-heap of deadlines it sleeps on.
///
/// Outside the pool's bound on purpose: a pool whose threads are all busy or stuck must not
/// delay the timer, which is exactly the situation it is for. The thread starts on first use
/// and exits after two seconds with nothing armed. Calls that settle stay in the heap until
/// they reach its top (dropped then, without firing) or until a compaction, so settling costs
/// no lock; the heap is compacted whenever it doubles, which bounds it by twice the calls pending.
package final class DeadlineTimer: @unchecked Sendable {
    private struct Entry {
        var deadline: UInt64
        var call: any DeadlineExpiring
    }
    private let startThread: ThreadStarter
    private let state = ConditionLock()
    // Guarded by `state`:
    private var heap: [Entry] = []
    private var running = false
    private var compactAt = 256

    package init(startThread: @escaping ThreadStarter = startDetachedThread) {
        self.startThread = startThread
    }

    /// Calls `call.expire()` at `deadline` (CLOCK_MONOTONIC nanoseconds) unless it has settled
    /// by then; false, and nothing armed, when the timer thread is not running and cannot start.
    package func arm(at deadline: UInt64, _ call: any DeadlineExpiring) -> Bool {
        state.lock()
        defer { state.unlock() }
        if !running {
            guard startThread({ [self] in run() }) else { return false }
            running = true
        }
        if heap.count >= compactAt {
            heap.removeAll { $0.call.isSettled }
            for i in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(i) }
            compactAt = max(256, heap.count * 2)
        }
        heap.append(Entry(deadline: deadline, call: call))
        if siftUp(heap.count - 1) == 0 { state.signal() }
        return true
    }

    /// Calls armed and not yet dropped (for tests).
    package var armedCount: Int { state.withLock { heap.count } }

    private func run() {
        state.lock()
        defer { state.unlock() }
        while true {
            guard let top = heap.first else {
                if !state.wait(untilNanoseconds: monotonicNanoseconds(after: 2)), heap.isEmpty {
                    running = false
                    return
                }
                continue
            }
            if top.call.isSettled || top.deadline <= monotonicNanoseconds() {
                popTop()
                if !top.call.isSettled {
                    state.unlock()
                    top.call.expire()
                    state.lock()
                }
                continue
            }
            _ = state.wait(untilNanoseconds: top.deadline)
        }
    }

    private func popTop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        siftDown(0)
    }

    /// Moves entry `i` up to its place; returns where it ended.
    private func siftUp(_ start: Int) -> Int {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].deadline < heap[parent].deadline else { break }
            heap.swapAt(i, parent)
            i = parent
        }
        return i
    }

    private func siftDown(_ start: Int) {
        var i = start
        while true {
            let left = 2 * i + 1
            guard left < heap.count else { return }
            var smallest = left
            if left + 1 < heap.count, heap[left + 1].deadline < heap[left].deadline { smallest = left + 1 }
            guard heap[smallest].deadline < heap[i].deadline else { return }
            heap.swapAt(i, smallest)
            i = smallest
        }
    }
}
