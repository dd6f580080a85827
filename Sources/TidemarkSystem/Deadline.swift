#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TidemarkCore

/// Runs blocking work (a file-system call that may hang on a dead NFS mount, say) on a thread
/// of its own and gives up waiting after `seconds`.
///
/// A call stuck in the kernel cannot be cancelled; on timeout the caller gets
/// `StorageError.timeout` and the stuck thread is abandoned (commands exit soon after). The
/// work and the timer run on plain threads, not on a bounded pool: a pool whose threads are all
/// busy or stuck would delay the timer itself, which is exactly the situation it is for. The
/// threads are reused (`ReusableThreads`) — a thread only takes new work once it is idle, so a
/// stuck one is never handed any — because starting two threads for every small read cost a
/// wal-push more than the reads.
public func withDeadline<T: Sendable>(seconds: Double, key: String, _ work: @escaping @Sendable () throws -> T) async throws -> T {
    let once = Once()
    let done = Signal()
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let started = ReusableThreads.shared.run {
            let result = Result { try work() }
            done.fire()
            if once.claim() { continuation.resume(with: result) }
        }
        guard started else {
            if once.claim() {
                continuation.resume(throwing: StorageError(.io, key: key, message: "unable to start an I/O thread for '\(key)'"))
            }
            return
        }
        _ = ReusableThreads.shared.run {
            if !done.wait(seconds: seconds), once.claim() {
                continuation.resume(throwing: StorageError(.timeout, key: key,
                    message: "unable to complete I/O on '\(key)': no answer within \(formatSeconds(seconds))"))
            }
        }
    }
}

package final class Once: Sendable {
    private let done = Atomic<Bool>(false)
    package func claim() -> Bool { !done.exchange(true, ordering: .acquiringAndReleasing) }
}

/// A one-shot event a thread can wait for with a timeout.
package final class Signal: @unchecked Sendable {
    // `fired` is guarded by `mutex`.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var fired = false

    package init() {
        pthread_mutex_init(mutex, nil)
        initMonotonicCondition(cond)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        cond.deallocate()
    }

    package func fire() {
        pthread_mutex_lock(mutex)
        fired = true
        pthread_cond_broadcast(cond)
        pthread_mutex_unlock(mutex)
    }

    /// True when fired within `seconds`.
    package func wait(seconds: Double) -> Bool {
        var deadline = monotonicDeadline(after: seconds)
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !fired {
            if pthread_cond_timedwait(cond, mutex, &deadline) == ETIMEDOUT { return fired }
        }
        return true
    }
}

/// Plain threads that, once their work is done, wait a little for more before they exit.
///
/// `run` hands the work to an idle thread if there is one, else starts a new thread: there is
/// no limit and no queue, so work never waits behind other work, and a thread stuck in the
/// kernel (it never becomes idle again) is simply never chosen.
package final class ReusableThreads: @unchecked Sendable {
    package static let shared = ReusableThreads(idleSeconds: 2)

    /// One parked thread: `work` is set (under the pool's mutex) to wake it.
    package final class Parked: @unchecked Sendable {
        package let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        package var work: (@Sendable () -> Void)?
        package init() {
            initMonotonicCondition(cond)
        }
        deinit {
            pthread_cond_destroy(cond)
            cond.deallocate()
        }
    }

    private let idleSeconds: Double
    // `idle` is guarded by `mutex`.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var idle: [Parked] = []

    package init(idleSeconds: Double) {
        self.idleSeconds = idleSeconds
        pthread_mutex_init(mutex, nil)
    }

    /// Threads parked now (for tests).
    package var idleCount: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return idle.count
    }

    /// Runs `work` on a thread of its own; false if none was idle and none could be started.
    package func run(_ work: @escaping @Sendable () -> Void) -> Bool {
        pthread_mutex_lock(mutex)
        if let parked = idle.popLast() {
            parked.work = work
            pthread_cond_signal(parked.cond)
            pthread_mutex_unlock(mutex)
            return true
        }
        pthread_mutex_unlock(mutex)
        return startThread { [self] in loop(first: work) }
    }

    private func loop(first: @escaping @Sendable () -> Void) {
        var next: (@Sendable () -> Void)? = first
        let parked = Parked()
        while let work = next {
            work()
            next = park(parked)
        }
    }

    /// Waits up to `idleSeconds` for more work; nil (and no longer idle) when none came.
    private func park(_ parked: Parked) -> (@Sendable () -> Void)? {
        var deadline = monotonicDeadline(after: idleSeconds)
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        parked.work = nil
        idle.append(parked)
        while parked.work == nil {
            if pthread_cond_timedwait(parked.cond, mutex, &deadline) == ETIMEDOUT && parked.work == nil {
                idle.removeAll { $0 === parked }
                return nil
            }
        }
        let work = parked.work
        parked.work = nil
        return work
    }
}

/// Initializes `cond` to time its waits on CLOCK_MONOTONIC (a clock change must not shorten
/// or stretch a deadline).
private func initMonotonicCondition(_ cond: UnsafeMutablePointer<pthread_cond_t>) {
    var attributes = pthread_condattr_t()
    pthread_condattr_init(&attributes)
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
    pthread_cond_init(cond, &attributes)
    pthread_condattr_destroy(&attributes)
}

/// The CLOCK_MONOTONIC time `seconds` from now, for `pthread_cond_timedwait`.
private func monotonicDeadline(after seconds: Double) -> timespec {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    let whole = Int(seconds)
    var deadline = timespec(tv_sec: now.tv_sec + whole, tv_nsec: now.tv_nsec + Int((seconds - Double(whole)) * 1e9))
    if deadline.tv_nsec >= 1_000_000_000 {
        deadline.tv_sec += 1
        deadline.tv_nsec -= 1_000_000_000
    }
    return deadline
}

/// Starts a detached thread running `body`; false if the system refused.
public func startThread(_ body: @escaping @Sendable () -> Void) -> Bool {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    pthread_attr_setstacksize(&attributes, 1 << 20)
    defer { pthread_attr_destroy(&attributes) }
    let rc = pthread_create(&thread, &attributes, { raw in
        guard let raw else { return nil }
        let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
        box.body()
        return nil
    }, box)
    if rc != 0 {
        Unmanaged<Box>.fromOpaque(box).release()
        return false
    }
    return true
}

package func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? "\(Int(s)) s" : "\(s) s"
}
