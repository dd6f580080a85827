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
