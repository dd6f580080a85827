#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TidemarkCore

/// A pthread mutex and a condition variable timed on CLOCK_MONOTONIC (a wall-clock change must
/// not shorten or stretch a wait). The building block of the pool, its timer and its lanes:
/// unlike `Mutex`, a thread can sleep on it until another signals.
package final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    package init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        cond.deallocate()
    }

    package func lock() { pthread_mutex_lock(mutex) }
    package func unlock() { pthread_mutex_unlock(mutex) }

    package func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Wakes one waiter (call with the lock held).
    package func signal() { pthread_cond_signal(cond) }
    /// Wakes every waiter (call with the lock held).
    package func broadcast() { pthread_cond_broadcast(cond) }
    /// Sleeps until signalled (call with the lock held; spurious wake-ups happen).
    package func wait() { pthread_cond_wait(cond, mutex) }

    /// Sleeps until signalled or until `deadline` (CLOCK_MONOTONIC nanoseconds); false when the
    /// deadline passed. Call with the lock held; spurious wake-ups happen.
    package func wait(untilNanoseconds deadline: UInt64) -> Bool {
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(cond, mutex, &time) != ETIMEDOUT
    }
}

/// A one-shot flag: the first `claim()` wins.
package final class Once: Sendable {
    private let done = Atomic<Bool>(false)
    package init() {}
    package func claim() -> Bool { !done.exchange(true, ordering: .acquiringAndReleasing) }
    package var isClaimed: Bool { done.load(ordering: .acquiring) }
}

/// How the pool and its timer start a thread: `pthread_create` in production, something that
/// fails on demand in tests (the pool must fail loudly, never run work without its timer).
package typealias ThreadStarter = @Sendable (_ body: @escaping @Sendable () -> Void) -> Bool

/// Starts a detached thread (1 MiB stack) running `body`; false if the system refused.
package let startDetachedThread: ThreadStarter = { body in
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

/// Names the calling thread (at most 15 bytes are kept), for `top -H` and debuggers. Wraps
/// glibc's `pthread_setname_np`, which the Glibc module does not import (it sits behind
/// `_GNU_SOURCE`): looked up once with `dlsym`.
package func nameCurrentThread(_ name: String) {
    guard let setName = threadNameSetter else { return }
    _ = setName(pthread_self(), String(name.utf8.prefix(15)) ?? "tidemark")
}

private let threadNameSetter: (@convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32)? =
    dlsym(nil, "pthread_setname_np").map { unsafeBitCast($0, to: (@convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32).self) }

package func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? "\(Int(s)) s" : "\(s) s"
}
