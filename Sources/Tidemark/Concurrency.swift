import Synchronization

/// A value behind a lock, for results gathered by parallel workers.
final class Mutex2<Value: Sendable>: Sendable {
    private let lock: Mutex<Value>
    init(_ value: Value) { lock = Mutex(value) }
    func mutate(_ body: (inout Value) -> Void) { lock.withLock { body(&$0) } }
    var value: Value { lock.withLock { $0 } }
}

