import TidemarkSystem

/// One call to a store, as `InstrumentedStore` reports it.
public struct StoreCall: Sendable, CustomStringConvertible {
    public enum Operation: String, Sendable, Equatable, CaseIterable {
        case get, getRange = "get-range", getBatch = "get-batch", getRanges = "get-ranges", size, list, put
        case makeWriter = "make-writer", write, commit, abort
        case openReader = "open-reader", read, close
        case delete, removeAll = "remove-all", deleteMany = "delete-many", retainUntil = "retain-until"
    }

    public enum Outcome: String, Sendable, Equatable {
        /// The call returned (an object read, a listing, a write, a delete…).
        case done
        /// The call answered that the object does not exist (`nil`).
        case missing
        /// A write created or replaced the object.
        case created
        /// A conditional write found the object there and left it.
        case alreadyExists = "already-exists"
        /// The call threw `error`.
        case failed
    }

    public var operation: Operation
    /// The object's key; the prefix for `list` and `removeAll`; the first key of a batch.
    public var key: String
    /// Objects asked for: the batch size for `getBatch` and `getRanges`, otherwise 1.
    public var count: Int
    /// Bytes read or written (the listed objects for `list`); 0 when the call failed.
    public var bytes: Int
    public var outcome: Outcome
    /// What the call threw, when `outcome` is `.failed`. Store errors carry no credentials.
    public var error: (any Error)?
    public var duration: Duration

    public init(operation: Operation, key: String, count: Int = 1, bytes: Int, outcome: Outcome, error: (any Error)? = nil, duration: Duration) {
        self.operation = operation
        self.key = key
        self.count = count
        self.bytes = bytes
        self.outcome = outcome
        self.error = error
        self.duration = duration
    }

    public var description: String { "\(operation.rawValue) '\(key)': \(outcome.rawValue), \(bytes) bytes, \(duration)" }
}

/// Any store, with every call reported to `observer` after it ends (for logs and metrics).
///
/// Every call is forwarded unchanged to the wrapped store, its own implementation included (a
/// batch stays one round on a file system); results and errors come back as they are. Writers
/// and readers from the store are wrapped too, so each `write`, `commit`, `read` is reported.
/// The observer runs on the caller's task, once per call, and must not block. The wrapper
/// neither retries nor times out: the wrapped store's capabilities are this store's.
public struct InstrumentedStore: ObjectStore {
    public let base: any ObjectStore
    let observer: @Sendable (StoreCall) -> Void

    public init(wrapping base: any ObjectStore, observer: @escaping @Sendable (StoreCall) -> Void) {
        self.base = base
        self.observer = observer
    }

    public var location: String { base.location }
    public var capabilities: StoreCapabilities { base.capabilities }

    public func get(_ key: String) async throws -> [UInt8]? {
        try await observe(.get, key, bytes: { $0?.count ?? 0 }, outcome: Self.foundOrMissing) { try await base.get(key) }
    }

    public func get(_ key: String, range: Range<Int64>) async throws -> [UInt8]? {
        try await observe(.getRange, key, bytes: { $0?.count ?? 0 }, outcome: Self.foundOrMissing) { try await base.get(key, range: range) }
    }

    public func get(_ keys: [String], range: Range<Int64>) async throws -> [[UInt8]?] {
        try await observe(.getBatch, keys.first ?? "", count: keys.count, bytes: Self.total, outcome: { _ in .done }) {
            try await base.get(keys, range: range)
        }
    }

    public func getRanges(_ requests: [(key: String, range: Range<Int64>)]) async throws -> [[UInt8]?] {
        try await observe(.getRanges, requests.first?.key ?? "", count: requests.count, bytes: Self.total, outcome: { _ in .done }) {
            try await base.getRanges(requests)
        }
    }

    public func size(_ key: String) async throws -> Int64? {
        try await observe(.size, key, bytes: { _ in 0 }, outcome: { $0 == nil ? .missing : .done }) { try await base.size(key) }
    }

    public func list(prefix: String) async throws -> ObjectListing {
        try await observe(.list, prefix, bytes: { Int($0.objects.reduce(0) { $0 + $1.size }) }, outcome: { _ in .done }) {
            try await base.list(prefix: prefix)
        }
    }

    public func put(_ key: String, bytes: [UInt8], ifAbsent: Bool) async throws -> PutOutcome {
        try await observe(.put, key, bytes: { $0 == .created ? bytes.count : 0 }, outcome: Self.putOutcome) {
            try await base.put(key, bytes: bytes, ifAbsent: ifAbsent)
        }
    }

    public func makeWriter(_ key: String) async throws -> any ObjectWriter {
        let writer = try await observe(.makeWriter, key, bytes: { _ in 0 }, outcome: { _ in .done }) { try await base.makeWriter(key) }
        return InstrumentedWriter(base: writer, key: key, observer: observer)
    }

    public func openReader(_ key: String) async throws -> (any ObjectReader)? {
        let reader = try await observe(.openReader, key, bytes: { _ in 0 }, outcome: { $0 == nil ? .missing : .done }) {
            try await base.openReader(key)
        }
        return reader.map { InstrumentedReader(base: $0, key: key, observer: observer) }
    }

    public func delete(_ key: String) async throws {
        try await observe(.delete, key, bytes: { _ in 0 }, outcome: { _ in .done }) { try await base.delete(key) }
    }

    public func removeAll(prefix: String) async throws {
        try await observe(.removeAll, prefix, bytes: { _ in 0 }, outcome: { _ in .done }) { try await base.removeAll(prefix: prefix) }
    }

    public func deleteMany(_ keys: [String]) async throws {
        try await observe(.deleteMany, keys.first ?? "", count: keys.count, bytes: { _ in 0 }, outcome: { _ in .done }) {
            try await base.deleteMany(keys)
        }
    }

    public func retainUntil(_ key: String) async throws -> Int64? {
        try await observe(.retainUntil, key, bytes: { _ in 0 }, outcome: { _ in .done }) { try await base.retainUntil(key) }
    }

    func observe<T>(
        _ operation: StoreCall.Operation, _ key: String, count: Int = 1,
        bytes: (T) -> Int, outcome: (T) -> StoreCall.Outcome, _ call: () async throws -> T
    ) async throws -> T {
        try await InstrumentedStore.observe(operation, key, count: count, observer: observer, bytes: bytes, outcome: outcome, call)
    }

    static func observe<T>(
        _ operation: StoreCall.Operation, _ key: String, count: Int = 1, observer: @Sendable (StoreCall) -> Void,
        bytes: (T) -> Int, outcome: (T) -> StoreCall.Outcome, _ call: () async throws -> T
    ) async throws -> T {
        let start = ContinuousClock.now
        do {
            let value = try await call()
            observer(StoreCall(operation: operation, key: key, count: count, bytes: bytes(value), outcome: outcome(value),
                               duration: ContinuousClock.now - start))
            return value
        } catch {
            observer(StoreCall(operation: operation, key: key, count: count, bytes: 0, outcome: .failed, error: error,
                               duration: ContinuousClock.now - start))
            throw error
        }
    }

    static func foundOrMissing(_ bytes: [UInt8]?) -> StoreCall.Outcome { bytes == nil ? .missing : .done }
    static func total(_ all: [[UInt8]?]) -> Int { all.reduce(0) { $0 + ($1?.count ?? 0) } }
    static func putOutcome(_ outcome: PutOutcome) -> StoreCall.Outcome { outcome == .created ? .created : .alreadyExists }
}

/// A writer from an `InstrumentedStore`: each call forwarded to the store's own writer, reported.
struct InstrumentedWriter: ObjectWriter {
    let base: any ObjectWriter
    let key: String
    let observer: @Sendable (StoreCall) -> Void

    func write(_ bytes: [UInt8]) async throws {
        try await report(.write, bytes: { _ in bytes.count }, outcome: { _ in .done }) { try await base.write(bytes) }
    }

    func write(contentsOf pieces: [[UInt8]]) async throws {
        try await report(.write, bytes: { _ in Self.total(pieces) }, outcome: { _ in .done }) { try await base.write(contentsOf: pieces) }
    }

    func commit(ifAbsent: Bool) async throws -> PutOutcome {
        try await report(.commit, bytes: { _ in 0 }, outcome: InstrumentedStore.putOutcome) { try await base.commit(ifAbsent: ifAbsent) }
    }

    func commit(ifAbsent: Bool, afterWriting pieces: [[UInt8]]) async throws -> PutOutcome {
        try await report(.commit, bytes: { $0 == .created ? Self.total(pieces) : 0 }, outcome: InstrumentedStore.putOutcome) {
            try await base.commit(ifAbsent: ifAbsent, afterWriting: pieces)
        }
    }

    func abort() async {
        let start = ContinuousClock.now
        await base.abort()
        observer(StoreCall(operation: .abort, key: key, bytes: 0, outcome: .done, duration: ContinuousClock.now - start))
    }

    func report<T>(
        _ operation: StoreCall.Operation, bytes: (T) -> Int, outcome: (T) -> StoreCall.Outcome, _ call: () async throws -> T
    ) async throws -> T {
        try await InstrumentedStore.observe(operation, key, observer: observer, bytes: bytes, outcome: outcome, call)
    }

    static func total(_ pieces: [[UInt8]]) -> Int { pieces.reduce(0) { $0 + $1.count } }
}

/// A reader from an `InstrumentedStore`: each call forwarded to the store's own reader, reported.
struct InstrumentedReader: ObjectReader {
    let base: any ObjectReader
    let key: String
    let observer: @Sendable (StoreCall) -> Void

    func read(upTo count: Int) async throws -> [UInt8] {
        try await InstrumentedStore.observe(.read, key, observer: observer, bytes: { $0.count }, outcome: { _ in .done }) {
            try await base.read(upTo: count)
        }
    }

    func close() async {
        let start = ContinuousClock.now
        await base.close()
        observer(StoreCall(operation: .close, key: key, bytes: 0, outcome: .done, duration: ContinuousClock.now - start))
    }
}
