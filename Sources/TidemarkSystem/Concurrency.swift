import Synchronization
import TidemarkCore

/// A value behind a lock that can be shared by reference: results gathered by parallel
/// workers, state a `@Sendable` closure updates. (`Mutex` itself is not copyable, so it cannot
/// be captured by several closures; this class holds one.)
package final class LockedBox<Value: Sendable>: Sendable {
    private let lock: Mutex<Value>
    package init(_ value: Value) { lock = Mutex(value) }
    package func mutate(_ body: (inout Value) -> Void) { lock.withLock { body(&$0) } }
    package var value: Value { lock.withLock { $0 } }
}
