#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TidemarkCore

extension BlockingPool {
    /// Runs `body(0..<count)` on the calling thread and up to `width - 1` pool threads, and
    /// returns when every iteration is done.
    ///
    /// Iterations are claimed in order, so iteration 0 always starts first (hashing puts the
    /// longest task there). The caller works too, so the loop finishes even when the pool is at
    /// its bound or called from a pool thread (no thread waits for a thread that cannot come);
    /// helpers that only start after the last iteration was claimed do nothing. For callers on a
    /// plain thread or in synchronous code; async code uses the `async` form, which keeps the
    /// work off Swift's cooperative threads. Not `DispatchQueue.concurrentPerform`: called from a
    /// Swift-concurrency thread, libdispatch runs it on the caller's thread alone.
    public func parallelFor(count: Int, width: Int = BlockingPool.processorCount, _ body: @escaping @Sendable (Int) -> Void) {
        guard count > 0 else { return }
        let loop = ParallelLoop(count: count, body: body, whenDone: nil)
        for _ in 0..<(max(1, min(width, count)) - 1) {
            guard submit({ loop.work() }) else { break }
        }
        loop.work()
        loop.waitUntilDone()
    }

    /// Runs `body(0..<count)` on up to `width` pool threads and resumes when every iteration is
    /// done; the awaiting task's thread does none of it. Iterations are claimed in order.
    /// Should the system refuse every thread, the iterations run on the caller's thread rather
    /// than never.
    public func parallelFor(count: Int, width: Int = BlockingPool.processorCount, _ body: @escaping @Sendable (Int) -> Void) async {
        guard count > 0 else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let loop = ParallelLoop(count: count, body: body, whenDone: { continuation.resume() })
            var started = 0
            for _ in 0..<max(1, min(width, count)) {
                guard submit({ loop.work() }) else { break }
                started += 1
            }
            if started == 0 { loop.work() }
        }
    }
}

/// The shared state of one `parallelFor`: the next iteration to claim and how many are done.
private final class ParallelLoop: @unchecked Sendable {
    private let count: Int
    private let body: @Sendable (Int) -> Void
    private let whenDone: (@Sendable () -> Void)?
    private let next = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let done = ConditionLock()
    private var isDone = false  // guarded by `done`

    package init(count: Int, body: @escaping @Sendable (Int) -> Void, whenDone: (@Sendable () -> Void)?) {
        self.count = count
        self.body = body
        self.whenDone = whenDone
    }

    /// Claims and runs iterations until none is left.
    package func work() {
        while true {
            let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= count { return }
            body(i)
            if finished.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue == count { complete() }
        }
    }

    private func complete() {
        if let whenDone { return whenDone() }
        done.withLock {
            isDone = true
            done.broadcast()
        }
    }

    /// Blocks until every iteration (including those other threads claimed) has finished.
    package func waitUntilDone() {
        if finished.load(ordering: .acquiring) == count { return }
        done.lock()
        while !isDone { done.wait() }
        done.unlock()
    }
}
