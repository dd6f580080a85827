import Testing
import TidemarkCore

// MARK: - A small WAL writer: pages with correct headers, records with correct CRCs.

/// Little-endian byte building.
private struct Bytes {
    var b: [UInt8] = []
    mutating func put<T: FixedWidthInteger>(_ v: T) {
        for i in 0..<MemoryLayout<T>.size { b.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
    }
    mutating func append(_ bytes: [UInt8]) { b += bytes }
}

/// The same CRC the reader must compute, written out bit by bit so the test does not trust the
/// table-driven implementation.
private func bitwiseCRC32C(_ parts: [UInt8]...) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for part in parts {
        for byte in part {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
    }
    return crc ^ 0xFFFF_FFFF
}

/// One record: header fields plus the bytes after the header (fragment headers, payloads, main data).
private struct RecordSpec {
    var rmid: UInt8
    var info: UInt8
    var xid: UInt32 = 0
    /// Fragment headers before the main-data header (block references, 252, 253).
    var fragmentHeaders: [UInt8] = []
    /// Block images/data, in order.
    var payloads: [UInt8] = []
    var main: [UInt8] = []
    /// Overrides xl_prev (to break the chain on purpose).
    var prev: UInt64?

    func bytes(prev defaultPrev: UInt64) -> [UInt8] {
        var body = Bytes()
        body.append(fragmentHeaders)
        if !main.isEmpty {
            if main.count < 256 {
                body.put(UInt8(255))
                body.put(UInt8(main.count))
            } else {
                body.put(UInt8(254))
                body.put(UInt32(main.count))
            }
        }
        body.append(payloads)
        body.append(main)
        var head = Bytes()
        head.put(UInt32(24 + body.b.count))
        head.put(xid)
        head.put(prev ?? defaultPrev)
        head.put(info)
        head.put(rmid)
        head.put(UInt16(0))
        let crc = bitwiseCRC32C(body.b, head.b)
        head.put(crc)
        return head.b + body.b
    }
}

private let blockSize = 8192
private let segmentSize = WALSegmentSize(rawValue: 1 << 20)!
private let segmentBytes = 1 << 20

/// Writes WAL the way PostgreSQL lays it out: 8-aligned records, a header on every page
/// (long on the first page of a segment), continuation flags and `xlp_rem_len`.
private struct WALWriter {
    var magic: UInt16 = 0xD110
    var timeline: UInt32 = 1
    var segments: [[UInt8]] = []
    var firstSegment: UInt64
    /// Offset in the current (last) segment.
    var position = 0
    var lastRecord: UInt64 = 0

    init(segment: UInt64 = 3) {
        firstSegment = segment
        startSegment(remaining: 0)
    }

    var currentSegmentStart: UInt64 { (firstSegment + UInt64(segments.count - 1)) * UInt64(segmentBytes) }
    var lsn: UInt64 { currentSegmentStart + UInt64(position) }
    func name(_ index: Int) -> WALSegmentName {
        WALSegmentName(timeline: TimelineID(timeline), segment: firstSegment + UInt64(index), size: segmentSize)
    }

    private mutating func put<T: FixedWidthInteger>(_ v: T, at offset: Int) {
        for i in 0..<MemoryLayout<T>.size {
            segments[segments.count - 1][offset + i] = UInt8(truncatingIfNeeded: v >> (8 * i))
        }
    }

    mutating func startSegment(remaining: Int) {
        segments.append([UInt8](repeating: 0, count: segmentBytes))
        position = 0
        writePageHeader(remaining: remaining)
    }

    private mutating func writePageHeader(remaining: Int) {
        let first = position == 0
        var info: UInt16 = 0x0004  // XLP_BKP_REMOVABLE, routinely set
        if first { info |= 0x0002 }
        if remaining > 0 { info |= 0x0001 }
        put(magic, at: position)
        put(info, at: position + 2)
        put(timeline, at: position + 4)
        put(lsn, at: position + 8)
        put(UInt32(remaining), at: position + 16)
        if first {
            put(UInt64(7_300_000_000_000_000_001), at: 24)
            put(UInt32(segmentBytes), at: 32)
            put(UInt32(blockSize), at: 36)
            position += 40
        } else {
            position += 24
        }
    }

    /// Appends a record; returns (start LSN, end LSN).
    @discardableResult
    mutating func append(_ spec: RecordSpec) -> (lsn: LSN, end: LSN) {
        position = (position + 7) & ~7
        if position == segmentBytes { startSegment(remaining: 0) }
        if position % blockSize == 0 { writePageHeader(remaining: 0) }
        let start = lsn
        let record = spec.bytes(prev: lastRecord)
        var offset = 0
        while offset < record.count {
            if position == segmentBytes {
                startSegment(remaining: record.count - offset)
            } else if position % blockSize == 0 {
                writePageHeader(remaining: record.count - offset)
            }
            let pageEnd = (position / blockSize + 1) * blockSize
            let chunk = min(record.count - offset, pageEnd - position)
            segments[segments.count - 1].replaceSubrange(position..<position + chunk, with: record[offset..<offset + chunk])
            offset += chunk
            position += chunk
        }
        lastRecord = start
        return (LSN(start), LSN(lsn))
    }

    /// Writes XLOG NOOP records until the next record starts at `pageOffset` of a page.
    mutating func pad(toPageOffset target: Int) {
        position = (position + 7) & ~7
        if position % blockSize == 0, position > 0 || segments.count > 1 {
            if position == segmentBytes { startSegment(remaining: 0) } else { writePageHeader(remaining: 0) }
        }
        let current = position % blockSize
        let size = target - current >= 32 ? target - current : (blockSize - current) + (target - 24)
        append(noop(totalLength: size))
    }

    /// Writes NOOPs until fewer than `bytes` bytes remain in the current segment.
    mutating func fill(untilSegmentRemaining bytes: Int) {
        while segmentBytes - position > bytes + 4000 {
            append(noop(totalLength: 3000))
        }
    }

    func noop(totalLength: Int) -> RecordSpec {
        let mainLength = totalLength - 26 < 256 ? totalLength - 26 : totalLength - 29
        return RecordSpec(rmid: 0, info: 0x20, main: [UInt8](repeating: 0x5A, count: mainLength))
    }
}

// MARK: - Payload builders (PG-INTERNALS §3.6)

private func commitMain(time: Int64, xinfo: UInt32? = nil, parts: [UInt8] = []) -> [UInt8] {
    var b = Bytes()
    b.put(time)
    if let xinfo { b.put(xinfo) }
    b.append(parts)
    return b.b
}

private func commit(xid: UInt32, time: Int64) -> RecordSpec {
    RecordSpec(rmid: 1, info: 0x00, xid: xid, main: commitMain(time: time))
}

private func restorePoint(_ name: String, time: Int64) -> RecordSpec {
    var b = Bytes()
    b.put(time)
    var nameBytes = Array(name.utf8)
    nameBytes += [UInt8](repeating: 0, count: 64 - nameBytes.count)
    b.append(nameBytes)
    return RecordSpec(rmid: 0, info: 0x70, main: b.b)
}

private func checkpoint(redo: UInt64, timeline: UInt32, previous: UInt32, time: Int64, shutdown: Bool) -> RecordSpec {
    var b = Bytes()
    b.put(redo)
    b.put(timeline)
    b.put(previous)
    b.put(UInt8(1))
    b.append([UInt8](repeating: 0, count: 7))
    b.put(UInt64(740))  // nextXid
    b.append([UInt8](repeating: 0, count: 32))
    b.put(time)  // @64
    b.append([UInt8](repeating: 0, count: 16))
    precondition(b.b.count == 88)
    return RecordSpec(rmid: 0, info: shutdown ? 0x00 : 0x10, main: b.b)
}

private let switchRecord = RecordSpec(rmid: 0, info: 0x40)

private func scan(_ writer: WALWriter, _ index: Int = 0, previous: LSN? = nil) -> WALSegmentScan {
    WALSegmentScan.scan(writer.segments[index], name: writer.name(index), size: segmentSize, previousRecord: previous)
}

private let t0: Int64 = 848_000_000_123_456  // 2026-11-14-ish, µs since 2000

// MARK: - Tests

@Suite("WAL reader", .tags(.small))
struct WALReaderTests {
    @Test func simpleCommit() throws {
        var w = WALWriter()
        let (lsn, end) = w.append(commit(xid: 740, time: t0))
        #expect(lsn == LSN("0/300028"))
        let s = scan(w)
        #expect(s.stopReason == .endOfWAL(LSN(end.rawValue + 6)))  // 34 bytes, next record at MAXALIGN
        #expect(s.recordCount == 1)
        #expect(s.firstRecordLSN == lsn)
        #expect(s.endLSN == end)
        #expect(s.pageMagic == 0xD110)
        #expect(s.systemIdentifier == 7_300_000_000_000_000_001)
        #expect(s.events == [.commit(WALTransactionEnd(lsn: lsn, endLSN: end, xid: 740, time: t0))])
        #expect(s.completionTimes == t0...t0)
        #expect(s.incompleteTail == nil && s.continuationHead == nil)
    }

    @Test func abortAndTimesRange() throws {
        var w = WALWriter()
        let c = w.append(commit(xid: 740, time: t0 + 5))
        let a = w.append(RecordSpec(rmid: 1, info: 0x20, xid: 741, main: commitMain(time: t0)))
        let s = scan(w)
        #expect(s.events == [
            .commit(WALTransactionEnd(lsn: c.lsn, endLSN: c.end, xid: 740, time: t0 + 5)),
            .abort(WALTransactionEnd(lsn: a.lsn, endLSN: a.end, xid: 741, time: t0)),
        ])
        #expect(s.completionTimes == t0...(t0 + 5))
        #expect(s.recordCount == 2)
    }

    @Test func commitWithEveryOptionalPart() throws {
        var parts = Bytes()
        parts.put(UInt32(5)); parts.put(UInt32(1663))                          // dbinfo
        parts.put(Int32(3)); for x in [741, 742, 743] as [UInt32] { parts.put(x) }  // subxacts
        parts.put(Int32(2)); parts.append([UInt8](repeating: 7, count: 24))     // relfilenodes
        parts.put(Int32(1)); parts.append([UInt8](repeating: 8, count: 12))     // dropped stats
        parts.put(Int32(2)); parts.append([UInt8](repeating: 9, count: 32))     // invals
        parts.put(UInt32(700)); parts.append(Array("gid-1".utf8) + [0])         // twophase + gid
        parts.put(UInt64(0x1234)); parts.put(Int64(99))                         // origin
        let xinfo: UInt32 = 0x01 | 0x02 | 0x04 | 0x100 | 0x08 | 0x10 | 0x80 | 0x20 | 0x40
        var w = WALWriter()
        let cp = w.append(RecordSpec(rmid: 1, info: 0xB0, xid: 0, main: commitMain(time: t0, xinfo: xinfo, parts: parts.b)))
        // A plain commit with the same parts takes xl_xid, not the twophase xid.
        let plain = w.append(RecordSpec(rmid: 1, info: 0x80, xid: 744, main: commitMain(time: t0 + 1, xinfo: xinfo, parts: parts.b)))
        let s = scan(w)
        #expect(s.stopReason == .endOfWAL(LSN((plain.end.rawValue + 7) & ~7)))
        #expect(s.events == [
            .commit(WALTransactionEnd(lsn: cp.lsn, endLSN: cp.end, xid: 700, time: t0, isPrepared: true, gid: "gid-1")),
            .commit(WALTransactionEnd(lsn: plain.lsn, endLSN: plain.end, xid: 744, time: t0 + 1, isPrepared: false, gid: "gid-1")),
        ])
    }

    @Test func abortPreparedHasNoInvalidationsPart() throws {
        var parts = Bytes()
        parts.put(Int32(1)); parts.put(UInt32(801))                          // subxacts
        parts.put(Int32(1)); parts.append([UInt8](repeating: 7, count: 12))  // relfilenodes
        parts.put(UInt32(800))                                                // twophase, no gid
        // The INVALS bit is set but an abort has no such part: the twophase xid follows at once.
        let xinfo: UInt32 = 0x02 | 0x04 | 0x08 | 0x10
        var w = WALWriter()
        let ap = w.append(RecordSpec(rmid: 1, info: 0xC0, main: commitMain(time: t0, xinfo: xinfo, parts: parts.b)))
        let s = scan(w)
        #expect(s.events == [.abort(WALTransactionEnd(lsn: ap.lsn, endLSN: ap.end, xid: 800, time: t0, isPrepared: true))])
    }

    @Test func prepareIsNotAnEvent() {
        var w = WALWriter()
        w.append(RecordSpec(rmid: 1, info: 0x10, xid: 750, main: [UInt8](repeating: 1, count: 80)))
        let s = scan(w)
        #expect(s.recordCount == 1)
        #expect(s.events.isEmpty)
    }

    @Test func preparedCommitWithoutTwophaseIsMalformed() {
        var w = WALWriter()
        let r = w.append(RecordSpec(rmid: 1, info: 0x30, main: commitMain(time: t0)))
        let s = scan(w)
        guard case .invalidRecord(let at, _) = s.stopReason else {
            Issue.record("stop reason \(s.stopReason)")
            return
        }
        #expect(at == r.lsn)
        #expect(s.recordCount == 0)
    }

    @Test func xlogEvents() throws {
        var w = WALWriter()
        let rp = w.append(restorePoint("rp-1", time: t0))
        let online = w.append(checkpoint(redo: 0x300_0028, timeline: 1, previous: 1, time: 1_795_000_000, shutdown: false))
        let shutdown = w.append(checkpoint(redo: 0x300_0100, timeline: 2, previous: 1, time: 1_795_000_100, shutdown: true))
        var eor = Bytes()
        eor.put(t0 + 7); eor.put(UInt32(3)); eor.put(UInt32(2))
        let end = w.append(RecordSpec(rmid: 0, info: 0x90, main: eor.b))
        var be = Bytes()
        be.put(UInt64(0x200_0028))
        let backup = w.append(RecordSpec(rmid: 0, info: 0x50, main: be.b))
        let s = scan(w)
        #expect(s.recordCount == 5)
        #expect(s.events == [
            .restorePoint(WALRestorePointRecord(lsn: rp.lsn, name: "rp-1", time: t0)),
            .checkpoint(WALCheckpoint(lsn: online.lsn, redo: LSN(0x300_0028), timeline: TimelineID(1),
                                      previousTimeline: TimelineID(1), time: 1_795_000_000, isShutdown: false)),
            .checkpoint(WALCheckpoint(lsn: shutdown.lsn, redo: LSN(0x300_0100), timeline: TimelineID(2),
                                      previousTimeline: TimelineID(1), time: 1_795_000_100, isShutdown: true)),
            .endOfRecovery(WALEndOfRecovery(lsn: end.lsn, time: t0 + 7, timeline: TimelineID(3), previousTimeline: TimelineID(2))),
            .backupEnd(lsn: backup.lsn, startLSN: LSN(0x200_0028)),
        ])
        #expect(s.restorePointNames == ["rp-1"])
        #expect(s.completionTimes == nil)
    }

    @Test(arguments: [8, 16])
    func recordHeaderSplitAcrossPages(bytesOnFirstPage: Int) throws {
        var w = WALWriter()
        w.append(commit(xid: 739, time: t0 - 1))
        w.pad(toPageOffset: blockSize - bytesOnFirstPage)
        let c = w.append(commit(xid: 740, time: t0))
        #expect(c.lsn.rawValue % UInt64(blockSize) == UInt64(blockSize - bytesOnFirstPage))
        #expect(c.end.rawValue == c.lsn.rawValue + 34 + 24, "the end includes the page header")
        let after = w.append(commit(xid: 741, time: t0 + 1))
        let s = scan(w)
        #expect(s.recordCount == 4)
        #expect(s.events.compactMap(\.transactionEnd).map(\.xid) == [739, 740, 741])
        #expect(s.events[1] == .commit(WALTransactionEnd(lsn: c.lsn, endLSN: c.end, xid: 740, time: t0)))
        #expect(s.endLSN == after.end)
    }

    @Test func recordSpanningThreePagesWithBlockReferences() throws {
        // A heap-like record: one block with a 12 000-byte image, one SAME_REL block with data.
        var frag = Bytes()
        frag.put(UInt8(0)); frag.put(UInt8(0x10)); frag.put(UInt16(0))            // block 0, HAS_IMAGE
        frag.put(UInt16(12_000)); frag.put(UInt16(0)); frag.put(UInt8(0x02))       // bimg: APPLY (PG15)
        frag.put(UInt32(1663)); frag.put(UInt32(5)); frag.put(UInt32(16384))       // rel
        frag.put(UInt32(7))                                                         // block number
        frag.put(UInt8(1)); frag.put(UInt8(0xA0)); frag.put(UInt16(8000))          // block 1, SAME_REL|HAS_DATA
        frag.put(UInt32(8))
        let payload = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var w = WALWriter()
        let big = w.append(RecordSpec(rmid: 10, info: 0x00, xid: 740, fragmentHeaders: frag.b, payloads: payload,
                                      main: [1, 2, 3]))
        let c = w.append(commit(xid: 740, time: t0))
        #expect(big.end.rawValue - big.lsn.rawValue > 2 * UInt64(blockSize))
        let s = scan(w)
        #expect(s.stopReason == .endOfWAL(LSN((c.end.rawValue + 7) & ~7)))
        #expect(s.recordCount == 2)
        #expect(s.events == [.commit(WALTransactionEnd(lsn: c.lsn, endLSN: c.end, xid: 740, time: t0))])
    }

    @Test func blockReferenceWalk() throws {
        var frag = Bytes()
        frag.put(UInt8(252)); frag.put(UInt32(900))                                  // toplevel xid
        frag.put(UInt8(253)); frag.put(UInt16(4))                                    // origin
        frag.put(UInt8(0)); frag.put(UInt8(0x30)); frag.put(UInt16(10))              // HAS_IMAGE|HAS_DATA
        frag.put(UInt16(500)); frag.put(UInt16(100)); frag.put(UInt8(0x05))           // hole + PGLZ (PG15)
        frag.put(UInt16(7000))                                                        // hole_length
        frag.put(UInt32(1663)); frag.put(UInt32(5)); frag.put(UInt32(16384)); frag.put(UInt32(3))
        frag.put(UInt8(2)); frag.put(UInt8(0xC1)); frag.put(UInt16(0)); frag.put(UInt32(4))  // SAME_REL|WILL_INIT, fork 1
        let record = RecordSpec(rmid: 10, info: 0, fragmentHeaders: frag.b,
                                payloads: [UInt8](repeating: 1, count: 510), main: Array(0..<20)).bytes(prev: 0)
        let layout = try record.withUnsafeBytes { try WALRecordLayout(record: $0, pageMagic: 0xD110) }
        #expect(layout.topLevelXID == 900)
        #expect(layout.origin == 4)
        #expect(layout.mainData == (record.count - 20)..<record.count)
        #expect(Array(record[layout.mainData]) == Array(0..<20))
        #expect(layout.blocks.count == 2)
        let b0 = try #require(layout.blocks.first)
        #expect(b0.id == 0 && b0.hasImage && b0.hasData && b0.dataLength == 10 && b0.block == 3)
        let image = try #require(b0.image)
        #expect(image.length == 500 && image.holeOffset == 100 && image.holeLength == 7000)
        #expect(image.info == 0x05 && image.hasHole && image.isCompressed)
        #expect(b0.relation == WALRelationFile(tablespace: 1663, database: 5, relation: 16384))
        let b1 = try #require(layout.blocks.last)
        #expect(b1.id == 2 && b1.sameRelation && b1.willInit && b1.forkNumber == 1 && b1.relation == nil && b1.block == 4)
        #expect(record.withUnsafeBytes { walRecordCRCMatches($0) })

        // PG14 numbering: 0x04 is APPLY, so the image is not compressed and has no hole_length
        // field; the same bytes no longer add up.
        #expect(throws: WALMalformedRecord.self) {
            try record.withUnsafeBytes { try WALRecordLayout(record: $0, pageMagic: 0xD10D) }
        }
    }

    @Test func layoutMismatchStopsTheScan() {
        var frag = Bytes()
        frag.put(UInt8(0)); frag.put(UInt8(0x20)); frag.put(UInt16(100))  // claims 100 data bytes
        frag.put(UInt32(1663)); frag.put(UInt32(5)); frag.put(UInt32(16384)); frag.put(UInt32(3))
        var w = WALWriter()
        w.append(commit(xid: 1, time: t0))
        let bad = w.append(RecordSpec(rmid: 10, info: 0, fragmentHeaders: frag.b, payloads: [UInt8](repeating: 0, count: 90), main: [1]))
        let s = scan(w)
        guard case .invalidRecord(let at, let why) = s.stopReason else {
            Issue.record("stop reason \(s.stopReason)")
            return
        }
        #expect(at == bad.lsn, "\(why)")
        #expect(s.recordCount == 1)
    }

    @Test func xlogSwitchEndsTheSegment() {
        var w = WALWriter()
        w.append(commit(xid: 1, time: t0))
        let sw = w.append(switchRecord)
        // Garbage after the switch must not be read.
        for i in Int(sw.end.rawValue % UInt64(segmentBytes))..<(Int(sw.end.rawValue % UInt64(segmentBytes)) + 5000) {
            w.segments[0][i] = 0xEE
        }
        let s = scan(w)
        #expect(s.stopReason == .switchRecord(sw.lsn))
        #expect(s.stopReason.isCleanEnd)
        #expect(s.events.last == .segmentSwitch(lsn: sw.lsn))
        #expect(s.recordCount == 2)
        #expect(s.endLSN == sw.end)
    }

    @Test func crcFlipStops() throws {
        var w = WALWriter()
        let first = w.append(commit(xid: 1, time: t0))
        let second = w.append(commit(xid: 2, time: t0 + 1))
        w.append(commit(xid: 3, time: t0 + 2))
        w.segments[0][Int(second.lsn.rawValue % UInt64(segmentBytes)) + 24 + 3] ^= 0x01  // inside xact_time
        let s = scan(w)
        #expect(s.stopReason == .crcMismatch(second.lsn))
        #expect(s.recordCount == 1)
        #expect(s.endLSN == first.end)
        #expect(s.events.count == 1)
    }

    @Test func crcFlipInAPageSpanningRecordStops() {
        var w = WALWriter()
        w.pad(toPageOffset: blockSize - 16)
        let c = w.append(commit(xid: 2, time: t0))
        w.segments[0][blockSize + 24 + 12] ^= 0x80  // second page, inside the body
        let s = scan(w)
        #expect(s.stopReason == .crcMismatch(c.lsn))
    }

    @Test func continuationFlagAndLengthAreChecked() {
        var w = WALWriter()
        w.pad(toPageOffset: blockSize - 16)
        let c = w.append(commit(xid: 2, time: t0))
        #expect(scan(w).events.count == 1)
        // The second page loses its continuation flag: the record was abandoned.
        var noFlag = w
        noFlag.segments[0][blockSize + 2] &= ~0x01
        guard case .invalidRecord(let at, _) = scan(noFlag).stopReason else {
            Issue.record("missing continuation flag accepted: \(scan(noFlag).stopReason)")
            return
        }
        #expect(at == c.lsn)
        // xlp_rem_len disagrees with what the record still needs.
        var wrongLength = w
        wrongLength.segments[0][blockSize + 16] &+= 8
        guard case .invalidRecord(let at2, _) = scan(wrongLength).stopReason else {
            Issue.record("wrong xlp_rem_len accepted: \(scan(wrongLength).stopReason)")
            return
        }
        #expect(at2 == c.lsn)
        // A continuation flag where a new record must start.
        var w2 = WALWriter()
        w2.pad(toPageOffset: 24)
        w2.append(commit(xid: 3, time: t0))
        w2.segments[0][blockSize + 2] |= 0x01
        guard case .badPage(let page, _) = scan(w2).stopReason else {
            Issue.record("continuation flag at a record start accepted: \(scan(w2).stopReason)")
            return
        }
        #expect(page == LSN(0x30_2000))
    }

    @Test func stalePageAddressStops() {
        var w = WALWriter()
        w.append(commit(xid: 1, time: t0))
        w.pad(toPageOffset: 64)  // onto the second page
        w.append(commit(xid: 2, time: t0))
        // A recycled segment: the second page still carries an old address.
        let stale = UInt64(0x100_2000)
        for i in 0..<8 { w.segments[0][blockSize + 8 + i] = UInt8(truncatingIfNeeded: stale >> (8 * i)) }
        let s = scan(w)
        #expect(s.stopReason == .pageAddressMismatch(expected: LSN(0x30_2000), found: LSN(stale)))
        #expect(s.events.count == 1)
        #expect(!s.stopReason.isCleanEnd)
    }

    @Test func previousLinkMismatchStops() {
        var w = WALWriter()
        let first = w.append(commit(xid: 1, time: t0))
        var broken = commit(xid: 2, time: t0)
        broken.prev = 0x30_0000
        let second = w.append(broken)
        let s = scan(w)
        #expect(s.stopReason == .previousLinkMismatch(second.lsn, expected: first.lsn, found: LSN(0x30_0000)))
        #expect(s.recordCount == 1)
        // The first record is checked too when the caller knows what precedes the segment.
        let checked = scan(w, previous: LSN(0x2FF_FF00))
        #expect(checked.stopReason == .previousLinkMismatch(first.lsn, expected: LSN(0x2FF_FF00), found: LSN(0)))
    }

    @Test func unknownFlagBitsAndBadMagicStop() {
        var w = WALWriter()
        w.append(commit(xid: 1, time: t0))
        var flags = w.segments[0]
        flags[2] |= 0x10
        if case .badPage = WALSegmentScan.scan(flags, name: w.name(0), size: segmentSize).stopReason {} else {
            Issue.record("unknown flags were accepted")
        }
        var magic = w.segments[0]
        magic[0] = 0x11
        if case .badPage = WALSegmentScan.scan(magic, name: w.name(0), size: segmentSize).stopReason {} else {
            Issue.record("unknown magic was accepted")
        }
        let zero = [UInt8](repeating: 0, count: segmentBytes)
        #expect(WALSegmentScan.scan(zero, name: w.name(0), size: segmentSize).stopReason == .endOfWAL(LSN(0x30_0000)))
        let wrongName = WALSegmentName(timeline: TimelineID(1), log: 0, seg: 4)
        #expect(WALSegmentScan.scan(w.segments[0], name: wrongName, size: segmentSize).stopReason
                == .pageAddressMismatch(expected: LSN(0x40_0000), found: LSN(0x30_0000)))
    }

    @Test func fullSegmentEndsCleanly() {
        var w = WALWriter()
        w.fill(untilSegmentRemaining: 0)
        w.pad(toPageOffset: 24)  // exactly to the end of the segment: the next record would start the next one
        let s = scan(w)
        #expect(s.stopReason == .endOfSegment)
        #expect(s.incompleteTail == nil)
        #expect(s.endLSN == LSN(0x40_0000))
    }

    @Test(arguments: [8, 16, 40, 48])
    func commitAcrossTheSegmentEnd(bytesInFirstSegment: Int) throws {
        var w = WALWriter()
        w.fill(untilSegmentRemaining: 9000)
        w.pad(toPageOffset: blockSize - bytesInFirstSegment)  // on the segment's last page
        w.append(commit(xid: 1, time: t0))
        w.pad(toPageOffset: blockSize - bytesInFirstSegment)
        let straddling = w.append(RecordSpec(rmid: 1, info: 0x80, xid: 2,
                                             main: commitMain(time: t0 + 5, xinfo: 0x02, parts: [2, 0, 0, 0, 1, 1, 0, 0, 2, 2, 0, 0])))
        let after = w.append(commit(xid: 3, time: t0 + 9))
        #expect(w.segments.count == 2)
        #expect(straddling.lsn.rawValue < 0x40_0000 && straddling.end.rawValue > 0x40_0000)

        let first = scan(w, 0)
        let second = scan(w, 1)
        #expect(first.stopReason == .endOfSegment)
        #expect(first.events.last?.transactionEnd?.xid == 1)
        #expect(first.endLSN == straddling.lsn, "the padding record ends where the straddling one starts")
        let tail = try #require(first.incompleteTail)
        #expect(tail.lsn == straddling.lsn)
        #expect(tail.totalLength == 24 + 2 + 24)
        #expect(tail.presentLength == bytesInFirstSegment)
        #expect(tail.isCompletePrefix)
        let head = try #require(second.continuationHead)
        #expect(Int(head.remainingLength) == 50 - bytesInFirstSegment)
        #expect(head.endLSN == straddling.end)
        #expect(second.firstRecordLSN == after.lsn)
        #expect(second.events == [.commit(WALTransactionEnd(lsn: after.lsn, endLSN: after.end, xid: 3, time: t0 + 9))])

        let joined = try tail.joined(with: head)
        let expected = WALEvent.commit(WALTransactionEnd(lsn: straddling.lsn, endLSN: straddling.end, xid: 2, time: t0 + 5))
        #expect(joined.events == [expected])
        #expect(try first.eventsCrossingBoundary(into: second) == [expected])

        // A flipped bit in the head is caught by the joined record's CRC.
        var badHead = head
        badHead.bytes?[0] ^= 1
        #expect(throws: WALJoinError.crcMismatch(straddling.lsn)) { try tail.joined(with: badHead) }

        // The stream reader carries the record over and checks the chain across the boundary.
        var stream = WALStreamReader(size: segmentSize)
        let s1 = stream.scan(w.segments[0], name: w.name(0))
        let s2 = stream.scan(w.segments[1], name: w.name(1))
        #expect(s1.events == first.events)
        #expect(s2.events == [expected] + second.events)
        #expect(s2.recordCount == second.recordCount + 1)
        #expect(s2.stopReason == .endOfWAL(LSN((after.end.rawValue + 7) & ~7)))
    }

    @Test func largeRecordAcrossTheSegmentEnd() throws {
        var w = WALWriter()
        w.fill(untilSegmentRemaining: 12_000)
        let big = w.append(RecordSpec(rmid: 10, info: 0, fragmentHeaders: [], payloads: [],
                                      main: (0..<40_000).map { UInt8(truncatingIfNeeded: $0) }))
        let c = w.append(commit(xid: 9, time: t0))
        #expect(w.segments.count == 2 && big.end.rawValue > 0x40_0000 + UInt64(blockSize))
        let first = scan(w, 0)
        let second = scan(w, 1)
        let tail = try #require(first.incompleteTail)
        #expect(!tail.isCompletePrefix)
        #expect(tail.bytes.count == WALIncompleteRecord.maximumBytes)
        #expect(tail.missingLength == 40_029 - tail.presentLength)
        let head = try #require(second.continuationHead)
        #expect(head.bytes == nil)
        #expect(head.endLSN == big.end)
        #expect(second.firstRecordLSN == c.lsn, "skips MAXALIGN(xlp_rem_len) across several pages")
        #expect(second.recordCount == 1)
        #expect(throws: WALJoinError.tailNotKept) { try tail.joined(with: head) }

        var stream = WALStreamReader(size: segmentSize)
        _ = stream.scan(w.segments[0], name: w.name(0))
        let s2 = stream.scan(w.segments[1], name: w.name(1))
        #expect(s2.recordCount == 2, "\(s2.stopReason)")
        #expect(s2.events == second.events)
    }

    @Test func streamContinuesAfterASwitch() {
        var w = WALWriter()
        w.append(commit(xid: 1, time: t0))
        let sw = w.append(switchRecord)
        w.startSegment(remaining: 0)
        w.lastRecord = sw.lsn.rawValue
        let c = w.append(commit(xid: 2, time: t0))
        var stream = WALStreamReader(size: segmentSize)
        #expect(stream.scan(w.segments[0], name: w.name(0)).stopReason == .switchRecord(sw.lsn))
        let s2 = stream.scan(w.segments[1], name: w.name(1))
        #expect(s2.events.map(\.lsn) == [c.lsn])
        // A wrong chain across the switch is noticed by the stream.
        var broken = w.segments[1]
        broken[40 + 8] ^= 0x08
        var again = WALStreamReader(size: segmentSize)
        _ = again.scan(w.segments[0], name: w.name(0))
        if case .previousLinkMismatch = again.scan(broken, name: w.name(1)).stopReason {} else {
            Issue.record("broken chain across the switch was accepted")
        }
    }

    @Test func truncatedBuffers() {
        var w = WALWriter()
        for i in 0..<200 { w.append(commit(xid: UInt32(i), time: t0 + Int64(i))) }
        for length in [0, 1, 39, 40, 100, blockSize - 1, blockSize, blockSize + 30, 3 * blockSize] {
            let s = WALSegmentScan.scan(Array(w.segments[0].prefix(length)), name: w.name(0), size: segmentSize)
            #expect(!s.stopReason.isCleanEnd, "\(length): \(s.stopReason)")
            #expect(s.recordCount <= 200)
        }
    }

    @Test func randomMutationsNeverCrash() {
        var w = WALWriter()
        w.append(commit(xid: 1, time: t0))
        w.append(restorePoint("rp", time: t0))
        w.pad(toPageOffset: blockSize - 8)
        w.append(commit(xid: 2, time: t0))
        w.append(RecordSpec(rmid: 10, info: 0, payloads: [], main: [UInt8](repeating: 3, count: 9000)))
        w.append(checkpoint(redo: 1, timeline: 1, previous: 1, time: 1, shutdown: false))
        let original = w.segments[0]
        let clean = WALSegmentScan.scan(original, name: w.name(0), size: segmentSize)
        #expect(clean.recordCount == 6)
        var seed: UInt64 = 0x5EED_0001
        func next() -> UInt64 {
            seed &+= 0x9E37_79B9_7F4A_7C15
            var z = seed
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var mutated = original
        for round in 0..<300 {
            let flips = 1 + Int(next() % 8)
            var touched: [Int] = []
            for _ in 0..<flips {
                let at = Int(next() % UInt64(3 * blockSize + 200))
                touched.append(at)
                mutated[at] = UInt8(truncatingIfNeeded: next())
            }
            let length = round % 5 == 0 ? Int(next() % UInt64(4 * blockSize)) : mutated.count
            let s = mutated.withUnsafeBytes {
                WALSegmentScan.scan(UnsafeRawBufferPointer(rebasing: $0[0..<length]), name: w.name(0), size: segmentSize)
            }
            #expect(s.recordCount <= 7, "round \(round)")
            #expect(s.events.count <= 7, "round \(round)")
            for at in touched { mutated[at] = original[at] }
        }
        #expect(mutated == original)
    }
}
