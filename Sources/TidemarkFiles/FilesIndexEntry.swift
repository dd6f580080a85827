import TidemarkCodec

/// Where one chunk is stored: its record in a pack. Enough to read that chunk alone, with a
/// ranged read of the pack's frames that cover the record (docs/format.md, "File backups").
public struct FilesIndexEntry: Sendable, Hashable {
    public var id: ChunkID
    /// The pack's id: 16 random bytes, 32 lowercase hex digits (`FilesLayout.pack`).
    public var pack: String
    /// The record's plaintext offset in the pack (its 41-byte header first).
    public var offset: UInt32
    /// The record's length: header and stored bytes.
    public var length: UInt32
    /// The chunk's length before compression.
    public var rawLength: UInt32
    /// Whether the stored bytes are zstd-compressed (else they are the plaintext).
    public var compressed: Bool

    public init(id: ChunkID, pack: String, offset: UInt32, length: UInt32, rawLength: UInt32, compressed: Bool) {
        self.id = id
        self.pack = pack
        self.offset = offset
        self.length = length
        self.rawLength = rawLength
        self.compressed = compressed
    }

    /// The bytes the chunk takes in a pack (its record).
    public var storedLength: Int { Int(length) }
}

/// The plaintext layout of packs: `TMFPACK1`, then records, each a 41-byte header (chunk id 32,
/// flags u8 — bit 0: zstd —, raw length u32 LE, stored length u32 LE) and the stored bytes. A
/// pack describes itself, so verify can walk it and the index could be rebuilt from packs.
public enum FilesPackFormat {
    public static let magic = Array("TMFPACK1".utf8)
    public static let recordHeaderSize = 41
    /// The envelope's frame (chunk) size in packs: smaller than the default 1 MiB so that
    /// reading one chunk by range fetches little more than the chunk.
    public static let frameSize = 256 << 10
    /// A pack is sealed once its plaintext reaches this (a pack ends below target + the largest
    /// record, about 24 MiB).
    public static let targetSize = 16 << 20
    public static let flagZstd: UInt8 = 0x01

    /// A chunk ready to be appended to packs: compressed (or not) once, whatever the number of
    /// repositories it goes to.
    public struct Record: Sendable {
        public let id: ChunkID
        public let rawLength: Int
        public let compressed: Bool
        /// Header and stored bytes.
        public let bytes: [UInt8]
    }

    /// The record of a chunk; zstd-compressed at `level` when `compressible` and it helps.
    public static func record(id: ChunkID, plaintext: [UInt8], compressible: Bool, level: Int32) -> Record {
        let packed: [UInt8]? = compressible
            ? plaintext.withUnsafeBytes { RecordCompression.compress($0, algorithm: .zstd, level: level) } : nil
        let stored = packed ?? plaintext
        var bytes = id.bytes
        bytes.reserveCapacity(recordHeaderSize + stored.count)
        bytes.append(packed == nil ? 0 : flagZstd)
        appendU32(&bytes, UInt32(plaintext.count))
        appendU32(&bytes, UInt32(stored.count))
        bytes += stored
        return Record(id: id, rawLength: plaintext.count, compressed: packed != nil, bytes: bytes)
    }

    /// The chunk's plaintext from its record (`entry` says where it was expected). Checks the
    /// header against the index entry and decompresses; the caller checks the keyed id.
    public static func plaintext(of record: [UInt8], entry: FilesIndexEntry) throws -> [UInt8] {
        guard record.count == Int(entry.length), record.count >= recordHeaderSize else {
            throw EnvelopeError.corrupt("record of chunk \(entry.id) has \(record.count) bytes, the index says \(entry.length)")
        }
        guard Array(record[0..<32]) == entry.id.bytes else {
            throw EnvelopeError.corrupt("the record at offset \(entry.offset) holds another chunk than \(entry.id)")
        }
        let flags = record[32]
        let raw = Int(loadU32(record, 33))
        let stored = Int(loadU32(record, 37))
        guard flags & ~flagZstd == 0, raw == Int(entry.rawLength), stored == record.count - recordHeaderSize,
              (flags & flagZstd != 0) == entry.compressed else {
            throw EnvelopeError.corrupt("the header of chunk \(entry.id)'s record does not match the index")
        }
        guard entry.compressed else { return Array(record[recordHeaderSize...]) }
        return try record.withUnsafeBytes { p in
            try RecordCompression.decompress(UnsafeRawBufferPointer(rebasing: p[recordHeaderSize...]), algorithm: .zstd, rawLength: raw)
        }
    }

    static func appendU32(_ b: inout [UInt8], _ v: UInt32) {
        for i in 0..<4 { b.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
    }

    static func loadU32(_ b: [UInt8], _ at: Int) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(b[at + i]) << (8 * i) }
        return v
    }
}
