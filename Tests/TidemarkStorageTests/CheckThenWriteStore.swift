import Synchronization
import TidemarkStorage
import TidemarkSystem
import TidemarkTesting

/// A store whose conditional create looks, waits, then writes, as a server without
/// `If-None-Match` makes the S3 store do; it declares whatever `conditionalCreate` it is
/// given, so tests can see the conformance suite tell an honest declaration from a false one.
struct CheckThenWriteStore: ObjectStore {
    let base = MemoryStore()
    let conditionalCreate: StoreCapabilities.ConditionalCreate
    /// Between the look and the write: long enough for racing creators to all look first.
    var gap: Duration = .milliseconds(100)

    var location: String { "check-then-write:" }
    var capabilities: StoreCapabilities {
        StoreCapabilities(conditionalCreate: conditionalCreate, rangedReads: .native, listing: .readAfterWrite)
    }

    func get(_ key: String) async throws -> [UInt8]? { try await base.get(key) }
    func get(_ key: String, range: Range<Int64>) async throws -> [UInt8]? { try await base.get(key, range: range) }
    func size(_ key: String) async throws -> Int64? { try await base.size(key) }
    func list(prefix: String) async throws -> ObjectListing { try await base.list(prefix: prefix) }
    func openReader(_ key: String) async throws -> (any ObjectReader)? { try await base.openReader(key) }
    func delete(_ key: String) async throws { try await base.delete(key) }
    func removeAll(prefix: String) async throws { try await base.removeAll(prefix: prefix) }

    func put(_ key: String, bytes: [UInt8], ifAbsent: Bool) async throws -> PutOutcome {
        if ifAbsent {
            if try await base.size(key) != nil { return .alreadyExists }
            try await Task.sleep(for: gap)
        }
        return try await base.put(key, bytes: bytes, ifAbsent: false)
    }

    func makeWriter(_ key: String) async throws -> any ObjectWriter { BufferedWriter(store: self, key: key) }
}

/// Collects the bytes, then commits through the store's `put`.
final class BufferedWriter: ObjectWriter {
    let store: CheckThenWriteStore
    let key: String
    let buffer = Mutex<[UInt8]>([])

    init(store: CheckThenWriteStore, key: String) {
        self.store = store
        self.key = key
    }

    func write(_ bytes: [UInt8]) async throws { buffer.withLock { $0 += bytes } }
    func commit(ifAbsent: Bool) async throws -> PutOutcome {
        try await store.put(key, bytes: buffer.withLock { $0 }, ifAbsent: ifAbsent)
    }
    func abort() async { buffer.withLock { $0 = [] } }
}
