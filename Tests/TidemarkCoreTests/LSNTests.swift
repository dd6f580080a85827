import Foundation
import Testing
import TidemarkCore

@Suite("LSN", .tags(.small))
struct LSNTests {
    @Test(arguments: [
        ("0/305AB00", 0x0305_AB00 as UInt64),
        ("0/0", 0),
        ("1/0", 0x1_0000_0000),
        ("16/B374D848", 0x16_B374_D848),
        ("FFFFFFFF/FFFFFFFF", UInt64.max),
        ("00000000/00000001", 1),
        ("a/bc", 0xA_0000_00BC),  // PostgreSQL's pg_lsn_in accepts lower case
    ])
    func parses(text: String, value: UInt64) throws {
        let lsn = try #require(LSN(text))
        #expect(lsn.rawValue == value)
    }

    @Test(arguments: [
        "", "/", "0", "0/", "/0", "0/0/0", "0//0",
        "123456789/0", "0/123456789",  // more than 8 digits in a part
        "G/0", "0/0G", "0x1/0", " 0/0", "0/0 ", "0/0\n",
        "+1/0", "0/+1", "-0/0", "0/-1", "+/0",  // signs are not hex digits
        "１/0",  // full-width digit
    ])
    func rejects(text: String) {
        #expect(LSN(text) == nil)
    }

    @Test(arguments: [
        (0x0305_AB00 as UInt64, "0/305AB00"),
        (0, "0/0"),
        (0x1_0000_00AB, "1/AB"),
        (0xDEAD_BEEF_0000_0010, "DEADBEEF/10"),
        (UInt64.max, "FFFFFFFF/FFFFFFFF"),
    ])
    func printsUpperCaseWithoutPadding(value: UInt64, text: String) {
        #expect(LSN(value).description == text)
        #expect("\(LSN(value))" == text)
    }

    @Test(arguments: [0, 1, 0x0305_ACE8, 0x1_0000_0000, 0xFFFF_FFFF, UInt64.max] as [UInt64])
    func roundTripsThroughText(value: UInt64) throws {
        let parsed = try #require(LSN(LSN(value).description))
        #expect(parsed.rawValue == value)
    }

    @Test func ordersByPosition() throws {
        let a = try #require(LSN("0/FFFFFFFF"))
        let b = try #require(LSN("1/0"))
        #expect(a < b)
        #expect(LSN.zero < a)
        #expect(!(b < a))
    }

    @Test func encodesAsAString() throws {
        struct Wrapper: Codable, Equatable { var lsn: LSN }
        let value = Wrapper(lsn: try #require(LSN("16/B374D848")))
        let json = try JSONEncoder().encode(value)
        #expect(String(decoding: json, as: UTF8.self) == #"{"lsn":"16\/B374D848"}"#
            || String(decoding: json, as: UTF8.self) == #"{"lsn":"16/B374D848"}"#)
        #expect(try JSONDecoder().decode(Wrapper.self, from: json) == value)
    }

    @Test(arguments: [#"{"lsn":"0/G"}"#, #"{"lsn":12345}"#, #"{"lsn":"12345"}"#])
    func refusesToDecodeInvalidJSON(json: String) {
        struct Wrapper: Codable { var lsn: LSN }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Wrapper.self, from: Data(json.utf8))
        }
    }
}
