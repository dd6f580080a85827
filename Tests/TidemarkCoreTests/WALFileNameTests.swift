import Testing
import TidemarkCore

@Suite("WAL file names", .tags(.small))
struct WALFileNameTests {
    @Test func segment() throws {
        let name = try #require(WALFileName("0000000300000002000000A1"))
        guard case .segment(let segment) = name else {
            Issue.record("expected a segment, got \(name)")
            return
        }
        #expect(segment.timeline == TimelineID(3))
        #expect(segment.log == 2)
        #expect(segment.seg == 0xA1)
        #expect(name.timeline == TimelineID(3))
        #expect(name.segment == segment)
        #expect(name.description == "0000000300000002000000A1")
    }

    @Test func history() throws {
        let name = try #require(WALFileName("00000002.history"))
        #expect(name == .history(TimelineID(2)))
        #expect(name.timeline == TimelineID(2))
        #expect(name.segment == nil)
        #expect(name.description == "00000002.history")
        #expect(WALFileName("0000001A.history") == .history(TimelineID(26)))
        // Recovery asks for timeline 1's history after a promotion; it must parse (and be absent).
        #expect(WALFileName("00000001.history") == .history(TimelineID(1)))
    }

    @Test func backupHistory() throws {
        let name = try #require(WALFileName("000000010000000000000002.00000028.backup"))
        let segment = try #require(WALSegmentName("000000010000000000000002"))
        #expect(name == .backupHistory(segment, offset: 0x28))
        #expect(name.segment == segment)
        #expect(name.timeline == TimelineID(1))
        #expect(name.description == "000000010000000000000002.00000028.backup")
    }

    @Test func partial() throws {
        let name = try #require(WALFileName("00000001000000000000000A.partial"))
        let segment = try #require(WALSegmentName("00000001000000000000000A"))
        #expect(name == .partial(segment))
        #expect(name.segment == segment)
        #expect(name.description == "00000001000000000000000A.partial")
    }

    @Test(arguments: [
        "000000010000000000000003",
        "FFFFFFFFFFFFFFFFFFFFFFFF",
        "00000002.history",
        "0000000200000000000000FF.00FFFF28.backup",
        "0000000200000000000000FF.partial",
    ])
    func descriptionRoundTrips(text: String) throws {
        #expect(try #require(WALFileName(text)).description == text)
    }

    @Test(arguments: [
        "",
        "foo",
        "RECOVERYXLOG",
        "RECOVERYHISTORY",
        "00000000.history",
        "0000000a.history",  // lower-case hex
        "0000002.history",  // 7 digits
        "000000002.history",  // 9 digits
        "00000002.HISTORY",
        "00000002.history.partial",
        "00000002history",
        "00000001000000000000000a",  // lower-case hex
        "00000001000000000000000",  // 23 digits
        "0000000100000000000000001",  // 25 digits
        "000000000000000000000001",  // timeline 0
        "00000001000000000000000G",
        " 000000010000000000000001",
        "000000010000000000000001 ",
        "000000010000000000000001.",
        ".000000010000000000000001",
        "000000010000000000000001.00000028",
        "000000010000000000000001.0000028.backup",  // 7-digit offset
        "000000010000000000000001.00000028.BACKUP",
        "000000010000000000000001.0000002a.backup",  // lower-case offset
        "000000010000000000000001.+0000028.backup",
        "00000001000000000000001.00000028.backup",  // short segment
        "000000010000000000000001.00000028.backup.partial",
        "00000001000000000000000a.partial",
        "000000010000000000000001.PARTIAL",
        "000000010000000000000001.tmp",
        "archive_status",
    ])
    func rejects(text: String) {
        #expect(WALFileName(text) == nil)
    }

    @Test func segmentNameRejectsLowerCaseAndSigns() {
        #expect(WALSegmentName("00000001000000000000000a") == nil)
        #expect(WALSegmentName("+0000001000000000000000A") == nil)
        #expect(WALSegmentName("00000001000000000000000A") != nil)
    }
}
