/// Why a segment scan stopped.
public enum WALScanStopReason: Hashable, Sendable, CustomStringConvertible {
    /// Every page was read; the last record may continue in the next segment (`incompleteTail`).
    case endOfSegment
    /// An XLOG SWITCH record at this LSN: the rest of the segment is unused.
    case switchRecord(LSN)
    /// No record here: `xl_tot_len` is 0, or the page is all zeroes (end of written WAL).
    case endOfWAL(LSN)
    /// A page header is invalid (magic, flags, timeline, sizes, missing continuation flag).
    case badPage(LSN, String)
    /// `xlp_pageaddr` is not this page's position: a recycled segment's stale page.
    case pageAddressMismatch(expected: LSN, found: LSN)
    /// The record at this LSN fails its CRC-32C.
    case crcMismatch(LSN)
    /// The record at this LSN does not point back at the previous record.
    case previousLinkMismatch(LSN, expected: LSN, found: LSN)
    /// The record at this LSN is malformed (length, fragment headers, payload).
    case invalidRecord(LSN, String)
    /// The buffer ended before the segment did, at this LSN.
    case truncatedInput(LSN)

    /// True when the segment was read to its end (or to a switch record) without a fault.
    public var isCleanEnd: Bool {
        switch self {
        case .endOfSegment, .switchRecord: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .endOfSegment: return "end of segment"
        case .switchRecord(let lsn): return "switch record at \(lsn)"
        case .endOfWAL(let lsn): return "end of WAL at \(lsn)"
        case .badPage(let lsn, let why): return "invalid page at \(lsn): \(why)"
        case .pageAddressMismatch(let e, let f): return "page at \(e) claims address \(f)"
        case .crcMismatch(let lsn): return "CRC mismatch in record at \(lsn)"
        case .previousLinkMismatch(let lsn, let e, let f): return "record at \(lsn) has xl_prev \(f), expected \(e)"
        case .invalidRecord(let lsn, let why): return "invalid record at \(lsn): \(why)"
        case .truncatedInput(let lsn): return "input ends at \(lsn), before the segment does"
        }
    }
}

/// The start of a record that continues past the end of its segment.
public struct WALIncompleteRecord: Hashable, Sendable {
    /// At most this many bytes are kept.
    public static let maximumBytes = 8192

    /// Where the record starts.
    public var lsn: LSN
    /// Its `xl_tot_len`.
    public var totalLength: UInt32
    /// The record bytes found in this segment, page headers removed; at most `maximumBytes`.
    public var bytes: [UInt8]
    /// How many record bytes this segment holds (`bytes.count` unless they were cut).
    public var presentLength: Int
    /// The page magic of the segment (selects version-dependent bits when decoding).
    public var pageMagic: UInt16

    /// True when `bytes` holds every byte of the record that this segment has.
    public var isCompletePrefix: Bool { bytes.count == presentLength }
    /// Bytes the next segment(s) must supply.
    public var missingLength: Int { Int(totalLength) - presentLength }

    public init(lsn: LSN, totalLength: UInt32, bytes: [UInt8], presentLength: Int, pageMagic: UInt16) {
        self.lsn = lsn
        self.totalLength = totalLength
        self.bytes = bytes
        self.presentLength = presentLength
        self.pageMagic = pageMagic
    }
}

/// The continuation of a record from the previous segment, at the start of this one
/// (`XLP_FIRST_IS_CONTRECORD` on the first page).
public struct WALContinuation: Hashable, Sendable {
    /// At most this many bytes are kept.
    public static let maximumBytes = 8192

    /// `xlp_rem_len` of the first page: bytes of the record still to come.
    public var remainingLength: UInt32
    /// The continuation bytes, page headers removed; nil when `remainingLength` exceeds
    /// `maximumBytes` or the continuation does not end in this segment.
    public var bytes: [UInt8]?
    /// Where the continued record ends; nil when it does not end in this segment.
    public var endLSN: LSN?

    public init(remainingLength: UInt32, bytes: [UInt8]?, endLSN: LSN?) {
        self.remainingLength = remainingLength
        self.bytes = bytes
        self.endLSN = endLSN
    }
}

/// What one WAL segment holds, as far as its bytes are valid WAL.
public struct WALSegmentScan: Hashable, Sendable {
    public var segment: WALSegmentName
    /// `xlp_magic` of the first page (0 when the first page is invalid).
    public var pageMagic: UInt16 = 0
    /// `xlp_sysid` of the first page (nil when the first page is invalid).
    public var systemIdentifier: UInt64?
    /// The first record that starts in this segment and is valid.
    public var firstRecordLSN: LSN?
    /// The end of the last valid record (first byte after it).
    public var endLSN: LSN?
    /// Valid records that start in this segment and end in it (plus, for a stream, the record
    /// carried in from the previous segment).
    public var recordCount = 0
    public var stopReason: WALScanStopReason = .endOfSegment
    /// Events in LSN order.
    public var events: [WALEvent] = []
    /// A record that starts here and continues in the next segment.
    public var incompleteTail: WALIncompleteRecord?
    /// The end of a record from the previous segment, when the first page continues one.
    public var continuationHead: WALContinuation?

    public init(segment: WALSegmentName) { self.segment = segment }

    /// Earliest and latest `xact_time` over commits and aborts (what `recovery_target_time`
    /// compares). Times are not monotonic in LSN order, hence a range and not first/last.
    public var completionTimes: ClosedRange<WALTimestamp>? {
        var low = Int64.max
        var high = Int64.min
        for event in events {
            guard let t = event.transactionEnd?.time else { continue }
            low = min(low, t)
            high = max(high, t)
        }
        return low <= high ? low...high : nil
    }

    /// Names of the restore points, in LSN order.
    public var restorePointNames: [String] {
        events.compactMap { if case .restorePoint(let r) = $0 { return r.name } else { return nil } }
    }

    /// Reads one segment: pages, records, CRCs, `xl_prev` chain and events.
    ///
    /// `bytes` is the segment file (usually mapped, never copied whole); a buffer shorter than
    /// `size` is read as far as it goes and stops with `truncatedInput`. `previousRecord`, when
    /// known, is checked against the `xl_prev` of the first record that starts in this segment
    /// (so for a segment that begins with a continuation it is the continued record's start,
    /// `incompleteTail.lsn` of the previous segment). Never traps on bad input: every
    /// fault ends the scan with a `stopReason`, keeping what was valid before it.
    public static func scan(
        _ bytes: UnsafeRawBufferPointer, name: WALSegmentName, size: WALSegmentSize, previousRecord: LSN? = nil
    ) -> WALSegmentScan {
        var walker = WALSegmentWalker(bytes: bytes, name: name, size: size, previous: previousRecord, carriedIn: nil, keepWholeTail: false)
        walker.run()
        return walker.scan
    }

    /// `scan(_:name:size:previousRecord:)` over an array.
    public static func scan(_ bytes: [UInt8], name: WALSegmentName, size: WALSegmentSize, previousRecord: LSN? = nil) -> WALSegmentScan {
        bytes.withUnsafeBytes { scan($0, name: name, size: size, previousRecord: previousRecord) }
    }
}
