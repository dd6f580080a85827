import TidemarkCore

/// The byte writer of the tree and snapshot formats (docs/format.md, "File snapshots"):
/// unsigned LEB128 varints, zigzag for signed values, length-prefixed byte strings. Names and
/// paths stay bytes end to end, so any name the kernel accepts round-trips.
struct FilesByteWriter {
    private(set) var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func varint(_ v: Int) { varint(UInt64(max(0, v))) }
    mutating func varint(_ v: UInt32) { varint(UInt64(v)) }
    mutating func signed(_ v: Int64) { varint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }

    mutating func data(_ b: [UInt8]) {
        varint(b.count)
        bytes += b
    }

    mutating func string(_ s: String) { data(Array(s.utf8)) }
    mutating func raw(_ b: [UInt8]) { bytes += b }

    /// One field of a tagged record: tag, length, value. Readers skip tags they do not know, so
    /// a field added later within a version does not break them.
    mutating func field(_ tag: UInt64, _ body: (inout FilesByteWriter) -> Void) {
        var inner = FilesByteWriter()
        body(&inner)
        varint(tag)
        data(inner.bytes)
    }
}

/// The reader twin of `FilesByteWriter`: every read is bounds-checked and throws `corrupt`
/// naming `what` (the object being decoded).
struct FilesByteReader {
    private let bytes: [UInt8]
    private(set) var offset: Int
    private let end: Int
    let what: String

    init(_ bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.offset = 0
        self.end = bytes.count
        self.what = what
    }

    private init(_ bytes: [UInt8], range: Range<Int>, what: String) {
        self.bytes = bytes
        self.offset = range.lowerBound
        self.end = range.upperBound
        self.what = what
    }

    var isAtEnd: Bool { offset == end }

    func corrupt(_ detail: String) -> TidemarkError {
        TidemarkError(.corrupt, "unable to read \(what): \(detail)",
                      hints: ["the object is damaged or was written by a newer Tidemark; run 'tidemark verify'"])
    }

    mutating func u8() throws(TidemarkError) -> UInt8 {
        guard offset < end else { throw corrupt("truncated") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func varint() throws(TidemarkError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            guard shift < 64, !(shift == 63 && b > 1) else { throw corrupt("varint overflows") }
            result |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    mutating func int() throws(TidemarkError) -> Int {
        let v = try varint()
        guard v <= UInt64(Int.max) else { throw corrupt("value out of range") }
        return Int(v)
    }

    mutating func u32() throws(TidemarkError) -> UInt32 {
        let v = try varint()
        guard v <= UInt64(UInt32.max) else { throw corrupt("value out of range") }
        return UInt32(v)
    }

    mutating func signed() throws(TidemarkError) -> Int64 {
        let v = try varint()
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    mutating func raw(_ count: Int) throws(TidemarkError) -> [UInt8] {
        guard count >= 0, end - offset >= count else { throw corrupt("truncated") }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    mutating func data() throws(TidemarkError) -> [UInt8] { try raw(try int()) }

    mutating func string() throws(TidemarkError) -> String {
        let b = try data()
        guard let s = String(validating: b, as: UTF8.self) else { throw corrupt("text is not UTF-8") }
        return s
    }

    mutating func chunkID() throws(TidemarkError) -> ChunkID { ChunkID(bytes: try raw(32)) }

    /// The next tagged field: its tag and a reader over its value only.
    mutating func field() throws(TidemarkError) -> (tag: UInt64, body: FilesByteReader) {
        let tag = try varint()
        let count = try int()
        guard end - offset >= count else { throw corrupt("truncated field \(tag)") }
        let body = FilesByteReader(bytes, range: offset..<(offset + count), what: what)
        offset += count
        return (tag, body)
    }
}
