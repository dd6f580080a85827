/// The long page header at the start of every WAL segment (`XLogLongPageHeaderData`, 40 bytes).
///
/// Field layout (little-endian): magic u16 @0, info u16 @2, tli u32 @4, pageaddr u64 @8,
/// rem_len u32 @16, padding @20, sysid u64 @24, seg_size u32 @32, xlog_blcksz u32 @36.
public struct WALLongPageHeader: Hashable, Sendable {
    public static let size = 40
    public static let longHeaderFlag: UInt16 = 0x0002
    public static let allFlags: UInt16 = 0x000F

    public var magic: UInt16
    public var info: UInt16
    public var timeline: TimelineID
    public var pageAddress: LSN
    public var remainingLength: UInt32
    public var systemIdentifier: UInt64
    public var segmentSize: UInt32
    public var blockSize: UInt32

    /// PostgreSQL major version whose WAL carries this magic, if known.
    public var postgresMajorVersion: Int? { Self.knownMagic[magic] }

    /// `XLOG_PAGE_MAGIC` per major version (PG-INTERNALS §3.1). Extend as new majors ship.
    public static let knownMagic: [UInt16: Int] = [
        0xD101: 12, 0xD106: 13, 0xD10D: 14, 0xD110: 15, 0xD113: 16, 0xD116: 17,
    ]

    public enum ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        case tooShort(Int)
        case notLongHeader(info: UInt16)
        case unknownMagic(UInt16)
        case unknownFlags(UInt16)
        case badSegmentSize(UInt32)
        case badBlockSize(UInt32)
        case pageAddressMismatch(expected: LSN, found: LSN)
        case timelineMismatch(expected: TimelineID, found: TimelineID)
        case sizeMismatch(expected: UInt64, found: Int)

        public var description: String {
            switch self {
            case .tooShort(let n): return "file is \(n) bytes, shorter than a WAL page header"
            case .notLongHeader(let info): return "first page has no long header (xlp_info 0x\(String(info, radix: 16)))"
            case .unknownFlags(let f): return "unknown xlp_info flags 0x\(String(f, radix: 16))"
            case .unknownMagic(let m): return "unknown WAL page magic 0x\(String(m, radix: 16, uppercase: true)) (not a PostgreSQL 12-17 WAL file)"
            case .badSegmentSize(let s): return "invalid wal_segment_size \(s) in page header"
            case .badBlockSize(let s): return "invalid WAL block size \(s) in page header"
            case .pageAddressMismatch(let e, let f): return "page address \(f) does not match the file name (expected \(e))"
            case .timelineMismatch(let e, let f): return "page timeline \(f) is newer than the file name's timeline \(e)"
            case .sizeMismatch(let e, let f): return "file is \(f) bytes but wal_segment_size is \(e)"
            }
        }
    }

    /// Parses and validates the header; does not check it against a file name.
    public init(parsing bytes: some Collection<UInt8>) throws(ParseError) {
        let b = Array(bytes.prefix(Self.size))
        guard b.count == Self.size else { throw .tooShort(b.count) }
        magic = readLE(b, 0, as: UInt16.self)
        info = readLE(b, 2, as: UInt16.self)
        timeline = TimelineID(readLE(b, 4, as: UInt32.self))
        pageAddress = LSN(readLE(b, 8, as: UInt64.self))
        remainingLength = readLE(b, 16, as: UInt32.self)
        systemIdentifier = readLE(b, 24, as: UInt64.self)
        segmentSize = readLE(b, 32, as: UInt32.self)
        blockSize = readLE(b, 36, as: UInt32.self)
        guard Self.knownMagic[magic] != nil else { throw .unknownMagic(magic) }
        guard info & ~Self.allFlags == 0 else { throw .unknownFlags(info) }
        guard info & Self.longHeaderFlag != 0 else { throw .notLongHeader(info: info) }
        guard WALSegmentSize(rawValue: UInt64(segmentSize)) != nil else { throw .badSegmentSize(segmentSize) }
        guard blockSize >= 1024, blockSize <= 65536, blockSize & (blockSize - 1) == 0 else { throw .badBlockSize(blockSize) }
    }

    /// Validates a whole segment file against its name: header, size, page address and timeline.
    ///
    /// The first segment of a new timeline starts as a copy of the parent's, so its page TLI may
    /// be lower than the name's; it is never higher.
    /// With `checkSize` false, `count` is not compared (the caller checks the size later).
    public static func validate(segment bytes: some Collection<UInt8>, count: Int, named name: WALSegmentName,
                                checkSize: Bool = true) throws(ParseError) -> WALLongPageHeader {
        let header = try WALLongPageHeader(parsing: bytes)
        guard let size = WALSegmentSize(rawValue: UInt64(header.segmentSize)) else { throw .badSegmentSize(header.segmentSize) }
        guard !checkSize || UInt64(count) == size.rawValue else { throw .sizeMismatch(expected: size.rawValue, found: count) }
        guard let expected = name.startLSN(size: size) else { throw .badSegmentSize(header.segmentSize) }
        guard header.pageAddress == expected else { throw .pageAddressMismatch(expected: expected, found: header.pageAddress) }
        guard header.timeline <= name.timeline else { throw .timelineMismatch(expected: name.timeline, found: header.timeline) }
        return header
    }
}

@inline(__always)
func readLE<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int, as: T.Type) -> T {
    var value: T = 0
    for i in 0..<MemoryLayout<T>.size {
        value |= T(bytes[offset + i]) << (8 * i)
    }
    return value
}
