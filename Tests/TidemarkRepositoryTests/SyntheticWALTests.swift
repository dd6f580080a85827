import Testing
import TidemarkCore
import TidemarkTesting

/// The synthetic segments the expire benchmark archives must read as real switched segments.
@Suite("Synthetic commit segments")
struct SyntheticWALTests {
    @Test func aCommitSegmentScansCleanlyWithItsCommitTimeAndChainsToTheNext() throws {
        let size = try #require(WALSegmentSize(rawValue: 1 << 20))
        let first = WALSegmentName(timeline: TimelineID(1), segment: 5, size: size)
        let second = WALSegmentName(timeline: TimelineID(1), segment: 6, size: size)
        let time = PostgresTimestamp(unixSeconds: 1_790_000_000)
        let a = WALSegmentScan.scan(SyntheticWAL.commitSegment(first, commitTime: time, xid: 900), name: first, size: size,
                                    previousRecord: LSN(SyntheticWAL.previousRecord(before: first)))
        #expect(a.stopReason == .switchRecord(LSN(5 << 20 + 80)), "\(a.stopReason)")
        #expect(a.completionTimes == time.rawValue...time.rawValue)
        #expect(a.recordCount == 2)
        let b = WALSegmentScan.scan(SyntheticWAL.commitSegment(second, commitTime: time, xid: 901), name: second, size: size,
                                    previousRecord: LSN(SyntheticWAL.previousRecord(before: second)))
        #expect(b.stopReason.isCleanEnd, "\(b.stopReason)")
        #expect(LSN(SyntheticWAL.previousRecord(before: second)) == LSN(5 << 20 + 80), "the previous segment's switch record")
    }
}
