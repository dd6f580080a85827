import TidemarkSystem
/// One stored object as a listing sees it.
public struct ObjectInfo: Hashable, Sendable {
    public var key: String
    public var size: Int64
    public init(key: String, size: Int64) {
        self.key = key
        self.size = size
    }
}

/// A listing of one level: objects directly under the prefix and the "sub-directories" below it.
public struct ObjectListing: Hashable, Sendable {
    public var objects: [ObjectInfo]
    /// Prefixes (ending in "/") of deeper keys, like S3's CommonPrefixes.
    public var prefixes: [String]
    public init(objects: [ObjectInfo], prefixes: [String]) {
        self.objects = objects
        self.prefixes = prefixes
    }
}

/// A flat key → bytes store: a directory, an S3 bucket + prefix, memory in tests.
///
/// Keys are `/`-separated relative paths of safe characters (see `ObjectKey.validate`).
/// A missing object is an answer (`nil`), not an error. Every write is atomic: a reader sees
/// nothing or the whole object, never a part, even if the writer is killed. Implementations do
/// not retry; wrappers do (`InstrumentedStore` observes any store). What a store guarantees
/// beyond this contract it declares in `capabilities`.
public protocol ObjectStore: Sendable {
    /// Where the store lives, for messages (never contains credentials).
    var location: String { get }

    /// What this store guarantees for conditional creates, ranged reads and listings; the
    /// weaker value wherever the store cannot be sure. Cheap to read (no I/O).
    var capabilities: StoreCapabilities { get }

    /// The whole object, or nil when it does not exist.
    func get(_ key: String) async throws -> [UInt8]?

    /// Bytes `range` of the object (clamped to its end), or nil when it does not exist.
    func get(_ key: String, range: Range<Int64>) async throws -> [UInt8]?

    /// The object's size, or nil when it does not exist.
    func size(_ key: String) async throws -> Int64?

    /// Bytes `range` of each object in `keys` (nil for a missing one), in order. A store may
    /// answer the whole batch in one round (the file-system store: one I/O thread and one
    /// deadline for all of them); the default asks for each in turn.
    func get(_ keys: [String], range: Range<Int64>) async throws -> [[UInt8]?]

    /// For each request, bytes `range` of object `key` (nil for a missing one), in order: like
    /// `get(_:range:)` with a range of its own per object (the tail of each WAL object). The
    /// file-system store answers the batch in one round; the default asks for each in turn.
    func getRanges(_ requests: [(key: String, range: Range<Int64>)]) async throws -> [[UInt8]?]

    /// Objects and sub-prefixes directly below `prefix` ("" for the root; otherwise ending in "/").
    func list(prefix: String) async throws -> ObjectListing

    /// Stores `bytes` durably under `key`. With `ifAbsent`, an existing object is left as it is
    /// and `.alreadyExists` returned; without it an existing object is replaced atomically.
    func put(_ key: String, bytes: [UInt8], ifAbsent: Bool) async throws -> PutOutcome

    /// Starts a streamed write; nothing is visible under `key` until `commit`.
    func makeWriter(_ key: String) async throws -> any ObjectWriter

    /// Opens a streamed read, or nil when the object does not exist.
    func openReader(_ key: String) async throws -> (any ObjectReader)?

    /// Removes the object; removing a missing object is not an error.
    func delete(_ key: String) async throws

    /// Removes every object below `prefix` (ending in "/"), including what writers that died
    /// left in flight. The caller guarantees nobody is writing there.
    func removeAll(prefix: String) async throws

    /// Removes `keys` (missing ones are not an error): the same as `delete` of each, but a store
    /// may do it in fewer round trips or syncs. Durable when it returns. A call that fails may
    /// have removed any subset; callers that need an order (expire: oldest WAL first) call it
    /// with consecutive batches.
    func deleteMany(_ keys: [String]) async throws

    /// Seconds since the epoch until which the store refuses to remove the object at `key`
    /// (S3 Object Lock retention), or nil when nothing holds it (or the store has no such lock).
    func retainUntil(_ key: String) async throws -> Int64?
}

extension ObjectStore {
    public func deleteMany(_ keys: [String]) async throws {
        for key in keys { try await delete(key) }
    }

    public func retainUntil(_ key: String) async throws -> Int64? { nil }
}

extension ObjectStore {
    public func getRanges(_ requests: [(key: String, range: Range<Int64>)]) async throws -> [[UInt8]?] {
        var out: [[UInt8]?] = []
        out.reserveCapacity(requests.count)
        for r in requests { out.append(try await get(r.key, range: r.range)) }
        return out
    }

    public func get(_ keys: [String], range: Range<Int64>) async throws -> [[UInt8]?] {
        var out: [[UInt8]?] = []
        out.reserveCapacity(keys.count)
        for key in keys { out.append(try await get(key, range: range)) }
        return out
    }
}

/// A streamed write. Call `commit` or `abort` exactly once.
public protocol ObjectWriter: Sendable {
    func write(_ bytes: [UInt8]) async throws
    /// Writes `pieces` in order, as one `write` of their concatenation would.
    func write(contentsOf pieces: [[UInt8]]) async throws
    /// Makes the object durable and visible; see `ObjectStore.put` for `ifAbsent`.
    func commit(ifAbsent: Bool) async throws -> PutOutcome
    /// `write(contentsOf: pieces)` then `commit(ifAbsent:)`, in one round where the store can.
    func commit(ifAbsent: Bool, afterWriting pieces: [[UInt8]]) async throws -> PutOutcome
    /// Discards everything written; never throws.
    func abort() async
}

extension ObjectWriter {
    public func write(contentsOf pieces: [[UInt8]]) async throws {
        for piece in pieces where !piece.isEmpty { try await write(piece) }
    }

    public func commit(ifAbsent: Bool, afterWriting pieces: [[UInt8]]) async throws -> PutOutcome {
        try await write(contentsOf: pieces)
        return try await commit(ifAbsent: ifAbsent)
    }
}

/// A streamed read.
public protocol ObjectReader: Sendable {
    /// Up to `count` bytes; empty at the end of the object.
    func read(upTo count: Int) async throws -> [UInt8]
    func close() async
}

/// Rules for object keys, shared by every store so layouts cannot escape a prefix.
public enum ObjectKey {
    /// Throws unless `key` is a relative path of `[A-Za-z0-9._-]` components, none of them
    /// empty, `.` or `..`, and none starting with `.tmp` (reserved for in-flight writes).
    public static func validate(_ key: String) throws(StorageError) {
        let components = key.split(separator: "/", omittingEmptySubsequences: false)
        guard !key.isEmpty, key.utf8.count <= 1024 else { throw StorageError(.invalidKey, key: key, message: "empty or too long") }
        for c in components {
            guard !c.isEmpty, c != ".", c != "..", !c.hasPrefix(".tmp"),
                  c.utf8.allSatisfy({ isKeyByte($0) })
            else { throw StorageError(.invalidKey, key: key, message: "not a safe relative key") }
        }
    }

    static func isKeyByte(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 46 || b == 95 || b == 45
    }
}
