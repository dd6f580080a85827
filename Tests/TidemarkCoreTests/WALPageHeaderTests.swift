import Testing
import TidemarkCore

/// Builds an `XLogLongPageHeaderData` the way PostgreSQL lays it out on a little-endian machine.
private func longHeader(
    magic: UInt16 = 0xD110, info: UInt16 = 0x0002, timeline: UInt32 = 1, pageAddress: UInt64 = 0x0300_0000,
    remainingLength: UInt32 = 0, systemIdentifier: UInt64 = 7_345_678_901_234_567_890,
    segmentSize: UInt32 = 16 << 20, blockSize: UInt32 = 8192
) -> [UInt8] {
    var b: [UInt8] = []
    func put<T: FixedWidthInteger>(_ v: T) {
        for i in 0..<MemoryLayout<T>.size { b.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
    }
    put(magic)
    put(info)
    put(timeline)
    put(pageAddress)
    put(remainingLength)
    put(UInt32(0))  // padding before the 8-byte-aligned xlp_sysid
    put(systemIdentifier)
    put(segmentSize)
    put(blockSize)
    precondition(b.count == 40)
    return b
}

private let segment3 = WALSegmentName(timeline: TimelineID(1), log: 0, seg: 3)
private let sixteenMiB = 16 << 20

@Suite("WAL long page header", .tags(.small))
struct WALPageHeaderTests {
    @Test func parsesEveryField() throws {
        let bytes = longHeader(info: 0x0003, timeline: 2, pageAddress: 0x1_A000_0000, remainingLength: 0x1234)
        let header = try WALLongPageHeader(parsing: bytes)
        #expect(header.magic == 0xD110)
        #expect(header.info == 0x0003)
        #expect(header.timeline == TimelineID(2))
        #expect(header.pageAddress == LSN("1/A0000000"))
        #expect(header.remainingLength == 0x1234)
        #expect(header.systemIdentifier == 7_345_678_901_234_567_890)
        #expect(header.segmentSize == 16 << 20)
        #expect(header.blockSize == 8192)
        #expect(header.postgresMajorVersion == 15)
    }

    @Test func ignoresBytesAfterTheHeader() throws {
        let header = try WALLongPageHeader(parsing: longHeader() + [UInt8](repeating: 0xAA, count: 100))
        #expect(header.pageAddress == LSN("0/3000000"))
    }

    @Test(arguments: [
        (0xD101 as UInt16, 12), (0xD106, 13), (0xD10D, 14), (0xD110, 15), (0xD113, 16), (0xD116, 17),
    ])
    func knownMagicNamesTheMajorVersion(magic: UInt16, major: Int) throws {
        let header = try WALLongPageHeader(parsing: longHeader(magic: magic))
        #expect(header.postgresMajorVersion == major)
    }

    @Test(arguments: [0, 1, 39] as [Int])
    func tooShort(count: Int) {
        #expect(throws: WALLongPageHeader.ParseError.tooShort(count)) {
            try WALLongPageHeader(parsing: longHeader().prefix(count))
        }
    }

    @Test(arguments: [0x0000 as UInt16, 0xD111, 0x10D0, 0xD100, 0xFFFF])
    func unknownMagic(magic: UInt16) {
        #expect(throws: WALLongPageHeader.ParseError.unknownMagic(magic)) {
            try WALLongPageHeader(parsing: longHeader(magic: magic))
        }
    }

    @Test func shortHeaderOnFirstPage() {
        #expect(throws: WALLongPageHeader.ParseError.notLongHeader(info: 0x0001)) {
            try WALLongPageHeader(parsing: longHeader(info: 0x0001))
        }
    }

    @Test(arguments: [0, 8192, 3 << 20, (1 << 20) - 1, 2 << 30] as [UInt32])
    func badSegmentSize(size: UInt32) {
        #expect(throws: WALLongPageHeader.ParseError.badSegmentSize(size)) {
            try WALLongPageHeader(parsing: longHeader(segmentSize: size))
        }
    }

    @Test(arguments: [0, 512, 8191, 12288, 131072] as [UInt32])
    func badBlockSize(size: UInt32) {
        #expect(throws: WALLongPageHeader.ParseError.badBlockSize(size)) {
            try WALLongPageHeader(parsing: longHeader(blockSize: size))
        }
    }

    @Test(arguments: [1024, 4096, 8192, 32768, 65536] as [UInt32])
    func goodBlockSizes(size: UInt32) throws {
        #expect(try WALLongPageHeader(parsing: longHeader(blockSize: size)).blockSize == size)
    }

    // MARK: validate(segment:count:named:)

    @Test func validSegment() throws {
        let header = try WALLongPageHeader.validate(segment: longHeader(), count: sixteenMiB, named: segment3)
        #expect(header.pageAddress == LSN("0/3000000"))
        #expect(header.timeline == TimelineID(1))
    }

    @Test func validSegmentWithOtherSize() throws {
        // 64 MiB segments: 000000010000000100000002 is segment 64 + 2, starting at 66 × 64 MiB = 1/8000000.
        let name = try #require(WALSegmentName("000000010000000100000002"))
        let bytes = longHeader(pageAddress: 0x1_0800_0000, segmentSize: 64 << 20)
        let header = try WALLongPageHeader.validate(segment: bytes, count: 64 << 20, named: name)
        #expect(header.segmentSize == 64 << 20)
    }

    @Test(arguments: [
        0x0200_0000 as UInt64,  // the previous segment
        0x0400_0000,  // the next segment
        0x0300_2000,  // a later page of the right segment
        0x1_0300_0000,  // right seg, wrong log
    ])
    func pageAddressNotMatchingName(found: UInt64) {
        #expect(throws: WALLongPageHeader.ParseError.pageAddressMismatch(expected: LSN(0x0300_0000), found: LSN(found))) {
            try WALLongPageHeader.validate(segment: longHeader(pageAddress: found), count: sixteenMiB, named: segment3)
        }
    }

    @Test(arguments: [0, 40, 8192, (16 << 20) - 1, (16 << 20) + 1, 32 << 20])
    func sizeMismatch(count: Int) {
        #expect(throws: WALLongPageHeader.ParseError.sizeMismatch(expected: 16 << 20, found: count)) {
            try WALLongPageHeader.validate(segment: longHeader(), count: count, named: segment3)
        }
    }

    @Test func headerSegmentSizeDisagreesWithFileSize() {
        // A 16 MiB file whose header claims 64 MiB segments: the file is too small for its header.
        #expect(throws: WALLongPageHeader.ParseError.sizeMismatch(expected: 64 << 20, found: sixteenMiB)) {
            try WALLongPageHeader.validate(segment: longHeader(segmentSize: 64 << 20), count: sixteenMiB, named: segment3)
        }
    }

    @Test func unknownMagicInSegment() {
        #expect(throws: WALLongPageHeader.ParseError.unknownMagic(0xBEEF)) {
            try WALLongPageHeader.validate(segment: longHeader(magic: 0xBEEF), count: sixteenMiB, named: segment3)
        }
    }

    @Test func timelineHigherThanNameIsRejected() {
        #expect(throws: WALLongPageHeader.ParseError.timelineMismatch(expected: TimelineID(1), found: TimelineID(2))) {
            try WALLongPageHeader.validate(segment: longHeader(timeline: 2), count: sixteenMiB, named: segment3)
        }
    }

    /// The first segment of timeline 2 begins as a copy of timeline 1's, so its first page says TLI 1.
    @Test func timelineLowerThanNameIsAccepted() throws {
        let name = WALSegmentName(timeline: TimelineID(2), log: 0, seg: 3)
        let header = try WALLongPageHeader.validate(segment: longHeader(timeline: 1), count: sixteenMiB, named: name)
        #expect(header.timeline == TimelineID(1))
    }
}
