import Dispatch
import Synchronization

/// A value behind a lock, for results gathered by parallel workers.
final class Mutex2<Value: Sendable>: Sendable {
    private let lock: Mutex<Value>
    init(_ value: Value) { lock = Mutex(value) }
    func mutate(_ body: (inout Value) -> Void) { lock.withLock { body(&$0) } }
    var value: Value { lock.withLock { $0 } }
}

enum DispatchQueueConcurrent {
    /// Runs `body(0..<count)` on up to `width` threads (blocking work, off the cooperative pool).
    static func perform(count: Int, width: Int, _ body: @escaping @Sendable (Int) -> Void) {
        guard count > 0 else { return }
        let next = Counter()
        let workers = max(1, min(width, count))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let i = next.value.add(1, ordering: .relaxed).oldValue
                if i >= count { return }
                body(i)
            }
        }
    }
}

final class Counter: Sendable {
    let value = Atomic<Int>(0)
}
