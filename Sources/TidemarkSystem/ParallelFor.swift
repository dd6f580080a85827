#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TidemarkCore

/// Runs `body(0..<count)` on up to `width` threads and returns when all are done.
///
/// Not `DispatchQueue.concurrentPerform`: called from a Swift-concurrency thread (every async
/// command here), libdispatch runs it on the caller's thread alone, so "parallel" compression
/// and hashing ran on one core. These are plain threads; iterations are claimed in order, so
/// iteration 0 always starts first (writeWhole's reader relies on it).
public enum ParallelFor {
    public static var processorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    public static func run(count: Int, width: Int = processorCount, _ body: @escaping @Sendable (Int) -> Void) {
        guard count > 0 else { return }
        let workers = max(1, min(width, count))
        let next = Counter()
        let work: @Sendable () -> Void = {
            while true {
                let i = next.value.add(1, ordering: .relaxed).oldValue
                if i >= count { return }
                body(i)
            }
        }
        var threads: [pthread_t] = []
        for _ in 1..<workers {
            if let t = spawnJoinable(work) { threads.append(t) }
        }
        work()
        for t in threads { pthread_join(t, nil) }
    }

    package final class Counter: Sendable {
        package let value = Atomic<Int>(0)
    }

    package final class Box: @unchecked Sendable {
        package let body: @Sendable () -> Void
        package init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    package static func spawnJoinable(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setstacksize(&attributes, 1 << 20)
        defer { pthread_attr_destroy(&attributes) }
        let rc = pthread_create(&thread, &attributes, { raw in
            guard let raw else { return nil }
            Unmanaged<Box>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            return nil
        }
        return thread
    }
}
