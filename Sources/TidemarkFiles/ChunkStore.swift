/// The seam between the file tree (snapshots, backup walk, restore: the tree side) and chunk
/// storage (chunker, packs, index: the storage side). The tree side talks only to these
/// protocols, so its tests can run over `MemoryChunkStore`.

/// A chunk's id: a keyed hash (HMAC-SHA-256 under the stanza's files secret) of its plaintext,
/// 32 bytes. Equal content has equal ids within one stanza; ids say nothing about content to
/// anyone without the secret.
public struct ChunkID: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    public var bytes: [UInt8]
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public var description: String { bytes.map { String($0, radix: 16).leftPadded(2) }.joined() }
    public static func < (a: ChunkID, b: ChunkID) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

    public init?(hex: String) {
        guard hex.count == 64 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(32)
        var it = hex.utf8.makeIterator()
        while let h = it.next(), let l = it.next() {
            guard let hv = ChunkID.nibble(h), let lv = ChunkID.nibble(l) else { return nil }
            out.append(hv << 4 | lv)
        }
        bytes = out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        guard let id = ChunkID(hex: text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a chunk id: \(text)")
        }
        self = id
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}

/// What the tree side writes chunks to. Implementations: the repository store (packs and
/// index in every repository of the stanza) and `MemoryChunkStore` for tests.
public protocol ChunkSink: Sendable {
    /// The keyed id of `bytes` (the same function `put` uses).
    func id(of bytes: [UInt8]) -> ChunkID
    /// Whether the chunk is already stored (in the index or in a pack being written).
    func contains(_ id: ChunkID) async throws -> Bool
    /// Stores the chunk unless it is already stored. `compressible: false` stores it without
    /// recompressing (JPEG, PNG, MP4, PDF, ZIP, …). Not durable until `flush`.
    func put(_ id: ChunkID, bytes: [UInt8], compressible: Bool) async throws
    /// Makes every chunk put so far durable (packs sealed, index pages written). A snapshot
    /// object is written only after this returns.
    func flush() async throws
}

/// What restore and diff read chunks from.
public protocol ChunkSource: Sendable {
    /// The chunk's plaintext, authenticated (its keyed id checked); throws when it is missing
    /// or damaged, naming it.
    func chunk(_ id: ChunkID) async throws -> [UInt8]
}
