#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Runs blocking work (a file-system call that may hang on a dead NFS mount, say) on a thread
/// of its own and gives up waiting after `seconds`.
///
/// A call stuck in the kernel cannot be cancelled; on timeout the caller gets
/// `StorageError.timeout` and the stuck thread is abandoned (commands exit soon after). The
/// work and the timer run on plain threads, not on a shared pool: a pool whose threads are all
/// busy or stuck would delay the timer itself, which is exactly the situation it is for.
public func withDeadline<T: Sendable>(seconds: Double, key: String, _ work: @escaping @Sendable () throws -> T) async throws -> T {
    let once = Once()
    let done = Signal()
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let started = startThread {
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
        _ = startThread {
            if !done.wait(seconds: seconds), once.claim() {
                continuation.resume(throwing: StorageError(.timeout, key: key,
                    message: "unable to complete I/O on '\(key)': no answer within \(formatSeconds(seconds))"))
            }
        }
    }
}

final class Once: Sendable {
    private let done = Atomic<Bool>(false)
    func claim() -> Bool { !done.exchange(true, ordering: .acquiringAndReleasing) }
}

/// A one-shot event a thread can wait for with a timeout.
final class Signal: @unchecked Sendable {
    // `fired` is guarded by `mutex`.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var fired = false

    init() {
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

    func fire() {
        pthread_mutex_lock(mutex)
        fired = true
        pthread_cond_broadcast(cond)
        pthread_mutex_unlock(mutex)
    }

    /// True when fired within `seconds`.
    func wait(seconds: Double) -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let whole = Int(seconds)
        var deadline = timespec(tv_sec: now.tv_sec + whole, tv_nsec: now.tv_nsec + Int((seconds - Double(whole)) * 1e9))
        if deadline.tv_nsec >= 1_000_000_000 {
            deadline.tv_sec += 1
            deadline.tv_nsec -= 1_000_000_000
        }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !fired {
            if pthread_cond_timedwait(cond, mutex, &deadline) == ETIMEDOUT { return fired }
        }
        return true
    }
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

func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? "\(Int(s)) s" : "\(s) s"
}
