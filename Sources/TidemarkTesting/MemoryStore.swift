import Synchronization
import TidemarkStorage
import TidemarkSystem

/// An in-memory `ObjectStore` for unit tests, with the same atomicity and key rules as the
/// real stores. `hang` makes every call wait (to test timeouts); `failWrites` injects errors.
public final class MemoryStore: ObjectStore {
    struct State {
        var objects: [String: [UInt8]] = [:]
        var failWrites: StorageError?
    }

    private let state = Mutex(State())
    public let location: String

    public init(location: String = "memory:") {
        self.location = location
    }

    /// Every call runs under one lock: creates are atomic, a range copies only its bytes, and a
    /// listing sees every write that returned.
    public var capabilities: StoreCapabilities { .strongest }

    /// Makes every later write fail with `error` (nil to stop).
    public func failWrites(with error: StorageError?) {
        state.withLock { $0.failWrites = error }
    }

    /// Every key and its bytes, for assertions.
    public var snapshot: [String: [UInt8]] { state.withLock { $0.objects } }

    /// Replaces an object's bytes behind the API (to simulate damage).
    public func tamper(_ key: String, _ change: ([UInt8]) -> [UInt8]) {
        state.withLock { s in
            if let old = s.objects[key] { s.objects[key] = change(old) }
        }
    }

    /// Stores an object behind the API, at once (a concurrent writer landing between two of
    /// the caller's requests, from a store observer).
    public func place(_ key: String, _ bytes: [UInt8]) {
        state.withLock { $0.objects[key] = bytes }
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        try ObjectKey.validate(key)
        return state.withLock { $0.objects[key] }
    }

    public func get(_ key: String, range: Range<Int64>) async throws -> [UInt8]? {
        try ObjectKey.validate(key)
        guard let bytes = state.withLock({ $0.objects[key] }) else { return nil }
        let lower = min(Int(range.lowerBound), bytes.count)
        let upper = min(Int(range.upperBound), bytes.count)
        return Array(bytes[lower..<upper])
    }

    public func size(_ key: String) async throws -> Int64? {
        try ObjectKey.validate(key)
        return state.withLock { $0.objects[key].map { Int64($0.count) } }
    }

    public func list(prefix: String) async throws -> ObjectListing {
        let all = state.withLock { $0.objects }
        var objects: [ObjectInfo] = []
        var prefixes = Set<String>()
        for (key, bytes) in all where key.hasPrefix(prefix) {
            let rest = key.dropFirst(prefix.count)
            if let slash = rest.firstIndex(of: "/") {
                prefixes.insert(prefix + rest[..<slash] + "/")
            } else {
                objects.append(ObjectInfo(key: key, size: Int64(bytes.count)))
            }
        }
        return ObjectListing(objects: objects.sorted { $0.key < $1.key }, prefixes: prefixes.sorted())
    }

    public func put(_ key: String, bytes: [UInt8], ifAbsent: Bool) async throws -> PutOutcome {
        try ObjectKey.validate(key)
        return try state.withLock { s throws(StorageError) -> PutOutcome in
            if let error = s.failWrites { throw error }
            if ifAbsent && s.objects[key] != nil { return .alreadyExists }
            s.objects[key] = bytes
            return .created
        }
    }

    public func makeWriter(_ key: String) async throws -> any ObjectWriter {
        try ObjectKey.validate(key)
        return MemoryWriter(store: self, key: key)
    }

    public func openReader(_ key: String) async throws -> (any ObjectReader)? {
        guard let bytes = try await get(key) else { return nil }
        return MemoryReader(bytes: bytes)
    }

    public func removeAll(prefix: String) async throws {
        state.withLock { s in
            for key in s.objects.keys where key.hasPrefix(prefix) { s.objects.removeValue(forKey: key) }
        }
    }

    public func delete(_ key: String) async throws {
        try ObjectKey.validate(key)
        _ = state.withLock { $0.objects.removeValue(forKey: key) }
    }
}

final class MemoryWriter: ObjectWriter {
    let store: MemoryStore
    let key: String
    let buffer = Mutex<[UInt8]>([])

    init(store: MemoryStore, key: String) {
        self.store = store
        self.key = key
    }

    func write(_ bytes: [UInt8]) async throws {
        buffer.withLock { $0 += bytes }
    }

    func commit(ifAbsent: Bool) async throws -> PutOutcome {
        try await store.put(key, bytes: buffer.withLock { $0 }, ifAbsent: ifAbsent)
    }

    func abort() async {
        buffer.withLock { $0 = [] }
    }
}

final class MemoryReader: ObjectReader {
    let bytes: [UInt8]
    let offset = Mutex(0)

    init(bytes: [UInt8]) { self.bytes = bytes }

    func read(upTo count: Int) async throws -> [UInt8] {
        offset.withLock { o in
            let end = min(bytes.count, o + count)
            defer { o = end }
            return Array(bytes[o..<end])
        }
    }

    func close() async {}
}
