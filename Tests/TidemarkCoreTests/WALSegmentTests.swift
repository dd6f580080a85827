import Foundation
import Testing
import TidemarkCore

private let MiB: UInt64 = 1 << 20

@Suite("WAL segment size", .tags(.small))
struct WALSegmentSizeTests {
    @Test(arguments: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] as [UInt64])
    func acceptsPowersOfTwoFromOneMiBToOneGiB(mebibytes: UInt64) throws {
        let size = try #require(WALSegmentSize(rawValue: mebibytes * MiB))
        #expect(size.rawValue == mebibytes * MiB)
        #expect(size.segmentsPerXLogID == 4096 / mebibytes)
        #expect(size.description == "\(mebibytes) MiB")
    }

    @Test(arguments: [0, 1, 8192, MiB / 2, MiB - 1, MiB + 1, 3 * MiB, 24 * MiB, 2048 * MiB, 1 << 40] as [UInt64])
    func rejectsEverythingElse(bytes: UInt64) {
        #expect(WALSegmentSize(rawValue: bytes) == nil)
    }

    @Test func defaultIsSixteenMiB() {
        #expect(WALSegmentSize.default.rawValue == 16 * MiB)
        #expect(WALSegmentSize.default.segmentsPerXLogID == 256)
    }

    @Test func codableAsANumberAndValidatedOnDecode() throws {
        let json = try JSONEncoder().encode([WALSegmentSize.default])
        #expect(String(decoding: json, as: UTF8.self) == "[16777216]")
        #expect(try JSONDecoder().decode([WALSegmentSize].self, from: json) == [.default])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([WALSegmentSize].self, from: Data("[16777217]".utf8))
        }
    }
}

@Suite("Segment arithmetic", .tags(.small))
struct SegmentArithmeticTests {
    let size16 = WALSegmentSize.default

    @Test func segmentContainingAnLSN() throws {
        let lsn = try #require(LSN("0/305ACE8"))
        let segment = lsn.segment(size: size16)
        #expect(segment == 3)
        #expect(lsn.offset(in: size16) == 0x5ACE8)
        let name = WALSegmentName(timeline: TimelineID(1), segment: segment, size: size16)
        #expect(name.description == "000000010000000000000003")
    }

    @Test func segmentsCrossXLogIDs() throws {
        let lsn = try #require(LSN("1/A0000028"))
        let segment = lsn.segment(size: size16)
        #expect(segment == 0x1A0)
        let name = WALSegmentName(timeline: TimelineID(2), segment: segment, size: size16)
        #expect(name.description == "0000000200000001000000A0")
        #expect(name.directoryName == "0000000200000001")
        #expect(name.startLSN(size: size16) == LSN("1/A0000000"))
    }

    /// `XLByteToPrevSeg`: the byte just before a boundary belongs to the earlier segment.
    @Test(arguments: [
        ("0/1000000", 0 as UInt64),  // exactly on the 0/1 boundary: the record ended in segment 0
        ("0/1000001", 1),
        ("0/FFFFFF", 0),
        ("0/2000000", 1),
        ("1/0", 0xFF),
        ("0/0", 0),
        ("0/1", 0),
    ])
    func segmentEndingHere(text: String, expected: UInt64) throws {
        let lsn = try #require(LSN(text))
        #expect(lsn.segmentEndingHere(size: size16) == expected)
    }

    @Test func segmentEndingHereDiffersFromSegmentOnlyAtBoundaries() throws {
        let boundary = try #require(LSN("0/3000000"))
        #expect(boundary.segment(size: size16) == 3)
        #expect(boundary.segmentEndingHere(size: size16) == 2)
        let inside = LSN(boundary.rawValue + 0x28)
        #expect(inside.segment(size: size16) == inside.segmentEndingHere(size: size16))
    }

    @Test func startOfSegment() {
        #expect(LSN.start(of: 3, size: size16) == LSN("0/3000000"))
        #expect(LSN.start(of: 0x100, size: size16) == LSN("1/0"))
    }

    @Test(arguments: [
        // (MiB, segment number, name for timeline 1)
        (1 as UInt64, 0 as UInt64, "000000010000000000000000"),
        (1, 4095, "000000010000000000000FFF"),
        (1, 4096, "000000010000000100000000"),
        (1, 4097, "000000010000000100000001"),
        (16, 255, "0000000100000000000000FF"),
        (16, 256, "000000010000000100000000"),
        (64, 63, "00000001000000000000003F"),
        (64, 64, "000000010000000100000000"),
        (64, 130, "000000010000000200000002"),
        (1024, 3, "000000010000000000000003"),
        (1024, 5, "000000010000000100000001"),
    ])
    func segmentNumberRoundTripsThroughName(mebibytes: UInt64, segment: UInt64, text: String) throws {
        let size = try #require(WALSegmentSize(rawValue: mebibytes * MiB))
        let name = WALSegmentName(timeline: TimelineID(1), segment: segment, size: size)
        #expect(name.description == text)
        let parsed = try #require(WALSegmentName(text))
        #expect(parsed == name)
        #expect(parsed.segmentNumber(size: size) == segment)
        // The first byte of the segment maps back to it.
        let start = try #require(parsed.startLSN(size: size))
        #expect(start.rawValue == segment * size.rawValue)
        #expect(start.segment(size: size) == segment)
    }

    @Test(arguments: [
        (1 as UInt64, "000000010000000000001000"),  // seg 0x1000 ≥ 4096
        (16, "000000010000000000000100"),  // seg 0x100 ≥ 256
        (64, "000000010000000000000040"),  // seg 0x40 ≥ 64
        (1024, "000000010000000000000004"),  // four segments per xlogid
    ])
    func impossibleSegForSize(mebibytes: UInt64, text: String) throws {
        let size = try #require(WALSegmentSize(rawValue: mebibytes * MiB))
        let name = try #require(WALSegmentName(text))
        #expect(name.segmentNumber(size: size) == nil)
        #expect(name.startLSN(size: size) == nil)
    }

    @Test func namesOrderByTimelineThenPosition() throws {
        let a = try #require(WALSegmentName("0000000100000001000000FF"))
        let b = try #require(WALSegmentName("000000010000000200000000"))
        let c = try #require(WALSegmentName("000000020000000000000001"))
        #expect(a < b)
        #expect(b < c)
        #expect([c, a, b].sorted() == [a, b, c])
    }
}
