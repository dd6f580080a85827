import Testing
import TidemarkCore
import TidemarkRepository
@testable import TidemarkVerify

@Suite("Verify: the ledger and object names")
struct VerifyLedgerTests {
    @Test func theLedgerRoundTrips() throws {
        let ledger = VerifyLedger(stanza: "main", run: 41, entries: [
            "main/wal/0000000100000000/000000010000000000000003": .init(size: 1234, salt: String(repeating: "ab", count: 32), verifiedAt: 1_764_000_000,
                                                                        lastCompletion: PostgresTimestamp(rawValue: 818_000_000_123_456)),
            "main/backup/20261202-060650F/catalog": .init(size: 99, salt: "cd", verifiedAt: 5,
                                                          refs: ["main/backup/20261202-060650F/pack-00001=12", "main/backup/20261201-000000F/pack-00002=7"]),
        ])
        let decoded = try #require(VerifyLedger.decode(ledger.encoded(), stanza: "main"))
        #expect(decoded == ledger)
        #expect(VerifyLedger.decode(ledger.encoded(), stanza: "other") == nil, "a ledger copied from another stanza is refused")
        #expect(VerifyLedger.decode(Array("tidemark-verify-ledger 1\nstanza\tmain\nrun\t1\nbroken line\n".utf8), stanza: "main") == nil)
        #expect(VerifyLedger.decode(Array("something else".utf8), stanza: "main") == nil)
    }

    @Test func namesSayWhatAnObjectMustBe() throws {
        let seg = try #require(WALSegmentName("000000010000000000000003"))
        #expect(StanzaObject.classify("main/wal/0000000100000000/000000010000000000000003", stanza: "main") == .wal(.segment(seg)))
        #expect(StanzaObject.classify("main/wal/0000000100000001/000000010000000000000003", stanza: "main") == nil, "a segment in another directory")
        #expect(StanzaObject.classify("main/wal/history/00000002.history", stanza: "main")?.expectedKind == .timelineHistory)
        #expect(StanzaObject.classify("main/wal/0000000100000000/000000010000000000000003.partial-0123456789abcdef", stanza: "main") == .alternatePartial(seg))
        #expect(StanzaObject.classify("main/backup/20261202-060650F/pack-00001", stanza: "main")?.expectedKind == .backupData)
        #expect(StanzaObject.classify("main/backup/20261202-060650F/blockmap", stanza: "main")?.expectedKind == .catalog)
        #expect(StanzaObject.classify("main/catalog.index", stanza: "main") == .catalogIndex)
        let id = "0123456789abcdef0123456789abcdef"
        #expect(StanzaObject.classify("main/files/config", stanza: "main")?.expectedKind == .filesConfig)
        #expect(StanzaObject.classify("main/files/packs/01/\(id)", stanza: "main") == .filesPack(id))
        #expect(StanzaObject.classify("main/files/index/\(id)", stanza: "main")?.expectedKind == .filesIndex)
        #expect(StanzaObject.classify("main/files/snapshots/\(id)", stanza: "main")?.expectedKind == .filesSnapshot)
        #expect(StanzaObject.classify("main/files/packs/02/\(id)", stanza: "main") == nil, "a pack in another directory")
        #expect(StanzaObject.classify("main/files/index/notanid", stanza: "main") == nil)
        for plain in ["main/lock/00000000000000000001", "main/alerts/s3/000000010000000000000003.json", "main/readers/abc", "main/verify.ledger", "other/stanza.info"] {
            #expect(StanzaObject.classify(plain, stanza: "main") == nil, "\(plain)")
        }
    }

    /// A repair asks for every segment of every gap, and each damaged object, once.
    @Test func repairWantsEverySegmentOfAGap() throws {
        var report = VerifyRepositoryReport(name: "local", location: "/r", stanza: "main", required: true, scope: "all")
        report.gaps = [VerifyGap(timeline: 1, from: "0000000100000000000000FE", to: "000000010000000100000001", segments: 4, breaks: [], window: [nil, nil])]
        report.problems = [VerifyProblem(.damaged, object: "main/backup/x/pack-00001", "m", hint: "h"),
                           VerifyProblem(.gap, object: "main/wal/0000000100000000/0000000100000000000000FE", "m", hint: "h")]
        let size = try #require(WALSegmentSize(rawValue: 16 << 20))
        #expect(VerifyRepair.wanted(report, stanza: "main", segmentSize: size) == [
            "main/backup/x/pack-00001",
            "main/wal/0000000100000000/0000000100000000000000FE", "main/wal/0000000100000000/0000000100000000000000FF",
            "main/wal/0000000100000001/000000010000000100000000", "main/wal/0000000100000001/000000010000000100000001",
        ])
    }
}
