import Synchronization
import TidemarkCore

/// A value behind a lock, for results gathered by parallel workers.
package final class Mutex2<Value: Sendable>: Sendable {
    private let lock: Mutex<Value>
    package init(_ value: Value) { lock = Mutex(value) }
    package func mutate(_ body: (inout Value) -> Void) { lock.withLock { body(&$0) } }
    package var value: Value { lock.withLock { $0 } }
}

