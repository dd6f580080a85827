/// The fixed 24-byte header of every WAL record (`XLogRecord`, PG-INTERNALS §3.2).
public struct WALRecordHeader: Hashable, Sendable {
    /// `SizeOfXLogRecord`.
    public static let size = 24

    /// `xl_tot_len`: the whole record including this header.
    public var totalLength: UInt32
    /// `xl_xid`: the top-level transaction id (0 for non-transactional records and for
    /// COMMIT/ABORT PREPARED).
    public var xid: UInt32
    /// `xl_prev`: where the previous record starts.
    public var previous: LSN
    /// `xl_info`: the high nibble is the record type of the resource manager.
    public var info: UInt8
    /// `xl_rmid`: the resource manager (0 XLOG, 1 Transaction, …).
    public var resourceManager: UInt8
    /// `xl_crc`: CRC-32C over the record body, then the first 20 header bytes.
    public var crc: UInt32

    /// Reads the header from the first 24 bytes of `bytes`; nil when there are fewer.
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.size else { return nil }
        totalLength = bytes.le(0)
        xid = bytes.le(4)
        previous = LSN(bytes.le(8) as UInt64)
        info = bytes[16]
        resourceManager = bytes[17]
        crc = bytes.le(20)
    }
}

/// An error in the layout or payload of a record whose CRC was correct (or not yet checked).
public struct WALMalformedRecord: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// `RelFileNode` (≤15) / `RelFileLocator` (16+): same 12 bytes.
public struct WALRelationFile: Hashable, Sendable {
    public var tablespace: UInt32
    public var database: UInt32
    public var relation: UInt32

    public init(tablespace: UInt32, database: UInt32, relation: UInt32) {
        self.tablespace = tablespace
        self.database = database
        self.relation = relation
    }
}

/// One block reference header of a record (ids 0–32).
public struct WALBlockReference: Hashable, Sendable {
    /// A full-page image's header fields.
    public struct Image: Hashable, Sendable {
        /// `bimg_len`: image bytes stored in the record.
        public var length: UInt16
        public var holeOffset: UInt16
        /// Only stored (so only known) when the image is compressed and has a hole; else 0.
        public var holeLength: UInt16
        /// `bimg_info` as written; its bits depend on the major version.
        public var info: UInt8
        public var hasHole: Bool
        public var isCompressed: Bool
    }

    public var id: UInt8
    /// `fork_flags`: fork number in the low nibble, flags above.
    public var forkFlags: UInt8
    /// `data_length`: block data bytes stored in the record.
    public var dataLength: UInt16
    public var image: Image?
    /// The relation; nil when `sameRelation` (the previous block's relation applies).
    public var relation: WALRelationFile?
    public var block: UInt32

    public var forkNumber: UInt8 { forkFlags & 0x0F }
    public var hasImage: Bool { forkFlags & 0x10 != 0 }
    public var hasData: Bool { forkFlags & 0x20 != 0 }
    public var willInit: Bool { forkFlags & 0x40 != 0 }
    public var sameRelation: Bool { forkFlags & 0x80 != 0 }
}

/// The fragment headers of a record (`DecodeXLogRecord`), resolved to where the main data is.
public struct WALRecordLayout: Hashable, Sendable {
    public var header: WALRecordHeader
    /// Block references in record order (empty when not requested).
    public var blocks: [WALBlockReference]
    /// `XLR_BLOCK_ID_TOPLEVEL_XID` (252, PG14+).
    public var topLevelXID: UInt32?
    /// `XLR_BLOCK_ID_ORIGIN` (253).
    public var origin: UInt16?
    /// Offsets of the main data inside the record: always its last bytes.
    public var mainData: Range<Int>

    /// Walks the fragment headers of one complete record (header + body).
    ///
    /// Checks that `xl_tot_len` equals the buffer size, block ids increase, `HAS_DATA` agrees with
    /// `data_length`, `SAME_REL` has a relation to refer to, and header bytes plus payload sizes
    /// add up to `xl_tot_len` exactly. `pageMagic` selects the `bimg_info` bits (PG15 renumbered
    /// them). With `collectBlocks` false, `blocks` stays empty and nothing is allocated.
    public init(record: UnsafeRawBufferPointer, pageMagic: UInt16, collectBlocks: Bool = true) throws(WALMalformedRecord) {
        guard let header = WALRecordHeader(record) else { throw WALMalformedRecord("record shorter than its header") }
        guard Int(header.totalLength) == record.count else {
            throw WALMalformedRecord("xl_tot_len \(header.totalLength) but \(record.count) bytes")
        }
        // Everything goes into locals and `self` is assigned once at the end: mutating the fields
        // of a partly initialized `self` in the loop made the optimizer copy the whole struct
        // (array included) per fragment, a third of the WAL scan's time on full-page images.
        var blocks: [WALBlockReference] = []
        var topLevelXID: UInt32?
        var origin: UInt16?
        let compressedBits: UInt8 = pageMagic >= 0xD110 ? 0x1C : 0x02
        var offset = WALRecordHeader.size
        var remaining = record.count - WALRecordHeader.size
        var dataTotal = 0
        var mainLength = 0
        var lastBlockID = -1
        var haveRelation = false

        func take<T: FixedWidthInteger>(_: T.Type) throws(WALMalformedRecord) -> T {
            let size = MemoryLayout<T>.size
            guard remaining >= size else { throw WALMalformedRecord("record header fragments run past xl_tot_len") }
            let value: T = record.le(offset)
            offset += size
            remaining -= size
            return value
        }

        while remaining > dataTotal {
            let id = try take(UInt8.self)
            switch id {
            case 255:
                mainLength = Int(try take(UInt8.self))
            case 254:
                mainLength = Int(try take(UInt32.self))
            case 253:
                origin = try take(UInt16.self)
                continue
            case 252:
                topLevelXID = try take(UInt32.self)
                continue
            case 0...32:
                guard Int(id) > lastBlockID else { throw WALMalformedRecord("out-of-order block_id \(id)") }
                lastBlockID = Int(id)
                let forkFlags = try take(UInt8.self)
                let dataLength = try take(UInt16.self)
                var block = WALBlockReference(
                    id: id, forkFlags: forkFlags, dataLength: dataLength, image: nil, relation: nil, block: 0)
                if block.hasData, dataLength == 0 {
                    throw WALMalformedRecord("block \(id): HAS_DATA set but no data")
                }
                if !block.hasData, dataLength != 0 {
                    throw WALMalformedRecord("block \(id): HAS_DATA not set but data length \(dataLength)")
                }
                dataTotal += Int(dataLength)
                if block.hasImage {
                    let length = try take(UInt16.self)
                    let holeOffset = try take(UInt16.self)
                    let info = try take(UInt8.self)
                    let hasHole = info & 0x01 != 0
                    let isCompressed = info & compressedBits != 0
                    var holeLength: UInt16 = 0
                    if isCompressed, hasHole { holeLength = try take(UInt16.self) }
                    if isCompressed, hasHole, holeOffset == 0 || holeLength == 0 {
                        throw WALMalformedRecord("block \(id): compressed image with an empty hole")
                    }
                    if !hasHole, holeOffset != 0 {
                        throw WALMalformedRecord("block \(id): image without hole has hole offset \(holeOffset)")
                    }
                    block.image = .init(
                        length: length, holeOffset: holeOffset, holeLength: holeLength, info: info,
                        hasHole: hasHole, isCompressed: isCompressed)
                    dataTotal += Int(length)
                }
                if !block.sameRelation {
                    block.relation = WALRelationFile(
                        tablespace: try take(UInt32.self), database: try take(UInt32.self),
                        relation: try take(UInt32.self))
                    haveRelation = true
                } else if !haveRelation {
                    throw WALMalformedRecord("block \(id): SAME_REL set but no previous relation")
                }
                block.block = try take(UInt32.self)
                if collectBlocks { blocks.append(block) }
                continue
            default:
                throw WALMalformedRecord("invalid block_id \(id)")
            }
            // Main data header: always the last fragment header.
            dataTotal += mainLength
            break
        }
        guard remaining == dataTotal else {
            throw WALMalformedRecord(
                "fragment headers (\(record.count - remaining) bytes) plus payloads (\(dataTotal)) ≠ xl_tot_len \(record.count)")
        }
        self.header = header
        self.blocks = blocks
        self.topLevelXID = topLevelXID
        self.origin = origin
        mainData = (record.count - mainLength)..<record.count
    }
}

extension UnsafeRawBufferPointer {
    /// A little-endian integer at `offset`; the caller has checked the bounds.
    @inline(__always)
    func le<T: FixedWidthInteger>(_ offset: Int) -> T {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= count)
        return T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// A little-endian integer at `offset`, or nil when it does not fit.
    @inline(__always)
    func leIfPresent<T: FixedWidthInteger>(_ offset: Int) -> T? {
        guard offset >= 0, offset <= count - MemoryLayout<T>.size else { return nil }
        return T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

/// MAXALIGN: records start on 8-byte boundaries.
@inline(__always)
func maxAlign(_ value: Int) -> Int { (value + 7) & ~7 }

/// Verifies `xl_crc` of one complete record: CRC-32C over bytes [24, count) then [0, 20).
public func walRecordCRCMatches(_ record: UnsafeRawBufferPointer) -> Bool {
    guard let header = WALRecordHeader(record) else { return false }
    var crc = CRC32C()
    crc.update(UnsafeRawBufferPointer(rebasing: record[WALRecordHeader.size...]))
    crc.update(UnsafeRawBufferPointer(rebasing: record[0..<20]))
    return crc.finalize() == header.crc
}
