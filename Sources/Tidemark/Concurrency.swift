import Dispatch
import TidemarkCodec
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
        ParallelFor.run(count: count, width: width, body)
    }
}

final class Counter: Sendable {
    let value = Atomic<Int>(0)
}
