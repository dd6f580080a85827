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
    /// known, is checked against the first record's `xl_prev`. Never traps on bad input: every
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

/// A record started in an earlier segment whose bytes are being collected (stream reading).
struct WALPendingRecord: Sendable {
    var lsn: LSN
    var totalLength: Int
    var bytes: [UInt8]
    var pageMagic: UInt16
}

/// The page and record walk over one segment (PG-INTERNALS §3.1–3.3, 3.7).
struct WALSegmentWalker {
    private static let contRecordFlag: UInt16 = 0x0001
    private static let longHeaderFlag: UInt16 = 0x0002
    private static let shortHeaderSize = 24

    let bytes: UnsafeRawBufferPointer
    let start: UInt64
    let segmentSize: Int
    let nameTimeline: UInt32
    let keepWholeTail: Bool
    var available: Int
    var blockSize = 0
    var lastTimeline: UInt32 = 0
    var previous: LSN?
    var carriedIn: WALPendingRecord?
    /// Stream mode: the whole record that continues into the next segment.
    var carriedOut: WALPendingRecord?
    var scan: WALSegmentScan
    private var scratch: [UInt8] = []
    private var stopped = false

    init(bytes: UnsafeRawBufferPointer, name: WALSegmentName, size: WALSegmentSize, previous: LSN?,
         carriedIn: WALPendingRecord?, keepWholeTail: Bool) {
        self.bytes = bytes
        self.start = name.startLSN(size: size)?.rawValue ?? 0
        self.segmentSize = Int(size.rawValue)
        self.nameTimeline = name.timeline.rawValue
        self.keepWholeTail = keepWholeTail
        self.available = min(bytes.count, Int(size.rawValue))
        self.previous = previous
        self.carriedIn = carriedIn
        self.scan = WALSegmentScan(segment: name)
    }

    private func lsn(_ offset: Int) -> LSN { LSN(start &+ UInt64(offset)) }

    private mutating func stop(_ reason: WALScanStopReason) {
        scan.stopReason = reason
        stopped = true
    }

    struct Page {
        var info: UInt16
        var remainingLength: UInt32
        var headerSize: Int
        var isContinuation: Bool { info & WALSegmentWalker.contRecordFlag != 0 }
    }

    /// Validates the page header at `offset` (a multiple of the block size); stops on faults.
    private mutating func page(at offset: Int) -> Page? {
        let first = offset == 0
        guard offset + (first ? WALLongPageHeader.size : Self.shortHeaderSize) <= available else {
            stop(.truncatedInput(lsn(offset)))
            return nil
        }
        let magic: UInt16 = bytes.le(offset)
        let info: UInt16 = bytes.le(offset + 2)
        let timeline: UInt32 = bytes.le(offset + 4)
        let address: UInt64 = bytes.le(offset + 8)
        let remaining: UInt32 = bytes.le(offset + 16)
        if magic == 0, info == 0, address == 0 {
            stop(.endOfWAL(lsn(offset)))
            return nil
        }
        if first {
            guard WALLongPageHeader.knownMagic[magic] != nil else {
                stop(.badPage(lsn(offset), "unknown magic 0x\(String(magic, radix: 16, uppercase: true))"))
                return nil
            }
            scan.pageMagic = magic
        } else if magic != scan.pageMagic {
            stop(.badPage(lsn(offset), "magic 0x\(String(magic, radix: 16, uppercase: true)) differs from the first page's"))
            return nil
        }
        guard info & ~WALLongPageHeader.allFlags == 0 else {
            stop(.badPage(lsn(offset), "unknown xlp_info flags 0x\(String(info, radix: 16))"))
            return nil
        }
        guard address == start &+ UInt64(offset) else {
            stop(.pageAddressMismatch(expected: lsn(offset), found: LSN(address)))
            return nil
        }
        guard (info & Self.longHeaderFlag != 0) == first else {
            stop(.badPage(lsn(offset), first ? "first page has no long header" : "long header on a later page"))
            return nil
        }
        guard timeline != 0, timeline <= nameTimeline, timeline >= lastTimeline else {
            stop(.badPage(lsn(offset), "page timeline \(timeline) out of sequence"))
            return nil
        }
        lastTimeline = timeline
        if first {
            let segmentSize: UInt32 = bytes.le(32)
            let blockSize: UInt32 = bytes.le(36)
            guard Int(segmentSize) == self.segmentSize else {
                stop(.badPage(lsn(0), "xlp_seg_size \(segmentSize), expected \(self.segmentSize)"))
                return nil
            }
            guard blockSize >= 1024, blockSize <= 65536, blockSize & (blockSize - 1) == 0 else {
                stop(.badPage(lsn(0), "invalid xlp_xlog_blcksz \(blockSize)"))
                return nil
            }
            self.blockSize = Int(blockSize)
            scan.systemIdentifier = bytes.le(24)
            // Only whole pages count; a short last page reads as truncated input.
            available -= available % self.blockSize
            guard available > 0 else {
                stop(.truncatedInput(lsn(0)))
                return nil
            }
        }
        return Page(info: info, remainingLength: remaining, headerSize: first ? WALLongPageHeader.size : Self.shortHeaderSize)
    }

    mutating func run() {
        guard let first = page(at: 0) else { return }
        var position = first.headerSize
        if first.isContinuation {
            guard let end = readContinuation(remaining: first.remainingLength) else { return }
            position = maxAlign(end)
        } else if let carried = carriedIn {
            stop(.badPage(lsn(0), "no continuation flag, but the record at \(carried.lsn) needs \(carried.totalLength - carried.bytes.count) more bytes"))
            return
        }
        while !stopped {
            if position >= segmentSize {
                stop(.endOfSegment)
                return
            }
            if position >= available {
                stop(.truncatedInput(lsn(position)))
                return
            }
            if position % blockSize == 0 {
                guard let page = page(at: position) else { return }
                if page.isContinuation {
                    stop(.badPage(lsn(position), "continuation flag where a new record starts"))
                    return
                }
                position += page.headerSize
            }
            guard let end = readRecord(at: position) else { return }
            position = maxAlign(end)
        }
    }

    /// Walks the continuation at the start of the segment; returns the offset after it, or nil
    /// when the scan stopped (fault, or the continuation fills the whole segment).
    private mutating func readContinuation(remaining total: UInt32) -> Int? {
        let collect = carriedIn != nil || Int(total) <= WALContinuation.maximumBytes
        if let carried = carriedIn, carried.totalLength - carried.bytes.count != Int(total) {
            stop(.badPage(lsn(0), "xlp_rem_len \(total), but the record at \(carried.lsn) needs \(carried.totalLength - carried.bytes.count) more bytes"))
            return nil
        }
        var collected: [UInt8] = []
        if collect { collected.reserveCapacity(min(Int(total), segmentSize)) }
        var remaining = Int(total)
        var position = WALLongPageHeader.size
        var pageStart = 0
        while true {
            let chunk = min(remaining, pageStart + blockSize - position)
            if collect { collected.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[position..<position + chunk])) }
            remaining -= chunk
            position += chunk
            if remaining == 0 { break }
            pageStart += blockSize
            if pageStart >= available {
                // The record goes on beyond this segment (or the input).
                scan.continuationHead = WALContinuation(remainingLength: total, bytes: nil, endLSN: nil)
                if var carried = carriedIn, pageStart >= segmentSize {
                    carried.bytes.append(contentsOf: collected)
                    carriedOut = carried
                }
                stop(pageStart >= segmentSize ? .endOfSegment : .truncatedInput(lsn(pageStart)))
                return nil
            }
            guard let page = page(at: pageStart) else { return nil }
            guard page.isContinuation, Int(page.remainingLength) == remaining else {
                stop(.badPage(lsn(pageStart), page.isContinuation
                    ? "xlp_rem_len \(page.remainingLength), expected \(remaining)" : "continuation flag missing"))
                return nil
            }
            position = pageStart + page.headerSize
        }
        scan.continuationHead = WALContinuation(
            remainingLength: total, bytes: Int(total) <= WALContinuation.maximumBytes ? collected : nil, endLSN: lsn(position))
        if var carried = carriedIn {
            carried.bytes.append(contentsOf: collected)
            carriedIn = nil
            let endLSN = lsn(position)
            carried.bytes.withUnsafeBytes { record in
                accept(record: record, at: carried.lsn, end: endLSN, magic: carried.pageMagic)
            }
            if stopped { return nil }
        }
        return position
    }

    /// Reads the record starting at `offset`; returns the offset after its last byte, or nil
    /// when the scan stopped.
    private mutating func readRecord(at offset: Int) -> Int? {
        let recordLSN = lsn(offset)
        let pageEnd = (offset / blockSize + 1) * blockSize
        // Records are 8-aligned and pages end 8-aligned, so xl_tot_len is on this page.
        let totalLength = Int(bytes.le(offset) as UInt32)
        if totalLength == 0 {
            stop(.endOfWAL(recordLSN))
            return nil
        }
        guard totalLength >= WALRecordHeader.size else {
            stop(.invalidRecord(recordLSN, "xl_tot_len \(totalLength) is shorter than a record header"))
            return nil
        }
        if totalLength <= pageEnd - offset {
            let end = offset + totalLength
            accept(record: UnsafeRawBufferPointer(rebasing: bytes[offset..<end]), at: recordLSN, end: lsn(end), magic: scan.pageMagic)
            return stopped ? nil : end
        }

        // The record spans pages: reassemble it without the page headers. A record that cannot
        // end in this segment is kept only up to the tail limit (unless a stream carries it on).
        let pagesLeft = (available - pageEnd) / blockSize
        let endsHere = totalLength - (pageEnd - offset) <= pagesLeft * (blockSize - Self.shortHeaderSize)
        let limit = endsHere || keepWholeTail ? Int.max : WALIncompleteRecord.maximumBytes
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + min(pageEnd - offset, limit)]))
        var got = pageEnd - offset
        var pageStart = pageEnd
        while got < totalLength {
            if pageStart >= available {
                recordTail(lsn: recordLSN, totalLength: totalLength, present: got, carry: pageStart >= segmentSize)
                if !stopped { stop(pageStart >= segmentSize ? .endOfSegment : .truncatedInput(lsn(pageStart))) }
                return nil
            }
            guard let page = page(at: pageStart) else { return nil }
            guard page.isContinuation else {
                stop(.invalidRecord(recordLSN, "record continues at \(lsn(pageStart)), but that page has no continuation flag"))
                return nil
            }
            guard Int(page.remainingLength) == totalLength - got else {
                stop(.invalidRecord(recordLSN, "xlp_rem_len \(page.remainingLength) at \(lsn(pageStart)), expected \(totalLength - got)"))
                return nil
            }
            let dataStart = pageStart + page.headerSize
            let chunk = min(totalLength - got, blockSize - page.headerSize)
            let copy = min(chunk, limit - scratch.count)
            if copy > 0 {
                scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[dataStart..<dataStart + copy]))
            }
            got += chunk
            pageStart += blockSize
            if got == totalLength {
                let end = dataStart + chunk
                let record = scratch
                record.withUnsafeBytes { accept(record: $0, at: recordLSN, end: lsn(end), magic: scan.pageMagic) }
                return stopped ? nil : end
            }
        }
        return nil
    }

    /// Keeps the start of a record that runs past the end of the segment; checks its `xl_prev`
    /// when the whole header is present.
    private mutating func recordTail(lsn recordLSN: LSN, totalLength: Int, present: Int, carry: Bool) {
        let kept = scratch
        if kept.count >= WALRecordHeader.size, let previous {
            let found = kept.withUnsafeBytes { LSN($0.le(8) as UInt64) }
            if found != previous {
                stop(.previousLinkMismatch(recordLSN, expected: previous, found: found))
                return
            }
        }
        scan.incompleteTail = WALIncompleteRecord(
            lsn: recordLSN, totalLength: UInt32(totalLength), bytes: Array(kept.prefix(WALIncompleteRecord.maximumBytes)),
            presentLength: present, pageMagic: scan.pageMagic)
        if keepWholeTail, carry {
            carriedOut = WALPendingRecord(lsn: recordLSN, totalLength: totalLength, bytes: kept, pageMagic: scan.pageMagic)
        }
    }

    /// Checks one complete record and takes its event.
    private mutating func accept(record: UnsafeRawBufferPointer, at recordLSN: LSN, end: LSN, magic: UInt16) {
        guard let header = WALRecordHeader(record) else {
            stop(.invalidRecord(recordLSN, "record shorter than its header"))
            return
        }
        if let previous, header.previous != previous {
            stop(.previousLinkMismatch(recordLSN, expected: previous, found: header.previous))
            return
        }
        guard walRecordCRCMatches(record) else {
            stop(.crcMismatch(recordLSN))
            return
        }
        do {
            let layout = try WALRecordLayout(record: record, pageMagic: magic, collectBlocks: false)
            if let event = try WALEvent.decode(layout: layout, record: record, lsn: recordLSN, endLSN: end) {
                scan.events.append(event)
            }
        } catch {
            stop(.invalidRecord(recordLSN, error.reason))
            return
        }
        scan.recordCount += 1
        if scan.firstRecordLSN == nil { scan.firstRecordLSN = recordLSN }
        scan.endLSN = end
        previous = recordLSN
        if header.resourceManager == 0, header.info & 0xF0 == 0x40 {
            stop(.switchRecord(recordLSN))
        }
    }
}
