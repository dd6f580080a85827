import Testing
import TidemarkPolicy

@Suite("Verify: which objects a run reads")
struct VerifySelectionTests {
    static func candidates(_ n: Int) -> [VerifySelection.Candidate] {
        (0..<n).map { VerifySelection.Candidate(key: "main/wal/0000000100000000/\($0)", size: 100, salt: "s\($0)") }
    }

    static func known(_ c: [VerifySelection.Candidate]) -> [String: VerifySelection.Known] {
        Dictionary(uniqueKeysWithValues: c.map { ($0.key, VerifySelection.Known(size: $0.size, salt: $0.salt ?? "")) })
    }

    @Test func newChangedAndKnownObjects() {
        var c = Self.candidates(4)
        var known = Self.known(c)
        known[c[0].key] = nil                                        // never verified
        c[1].size = 99                                               // another size
        c[2].salt = "replaced"                                       // same size, another object
        let chosen = VerifySelection.choose(c + [VerifySelection.Candidate(key: "x", size: 1, salt: nil)],
                                            known: known.merging(["x": .init(size: 1, salt: "a")]) { a, _ in a },
                                            samplePercent: 0, run: 0, full: false)
        #expect(chosen == [.init(key: c[0].key, reason: .new), .init(key: c[1].key, reason: .changed),
                           .init(key: c[2].key, reason: .changed), .init(key: "x", reason: .changed)])
    }

    @Test func fullReadsEverything() {
        let c = Self.candidates(10)
        let chosen = VerifySelection.choose(c, known: Self.known(c), samplePercent: 0, run: 3, full: true)
        #expect(chosen.map(\.key) == c.map(\.key) && chosen.allSatisfy { $0.reason == .full })
    }

    /// 2 %: 50 buckets; every known object is read exactly once in any 50 consecutive runs,
    /// and each run reads about 2 % of them.
    @Test func theSampleRotatesThroughEveryObject() {
        let c = Self.candidates(5_000)
        let known = Self.known(c)
        #expect(VerifySelection.buckets(samplePercent: 2) == 50)
        var reads: [String: Int] = [:]
        for run in 17..<(17 + 50) {
            let chosen = VerifySelection.choose(c, known: known, samplePercent: 2, run: run, full: false)
            #expect(chosen.allSatisfy { $0.reason == .sample })
            #expect((50...150).contains(chosen.count), "run \(run) read \(chosen.count) of 5000")
            for k in chosen { reads[k.key, default: 0] += 1 }
        }
        #expect(reads.count == c.count && reads.values.allSatisfy { $0 == 1 })
        #expect(VerifySelection.choose(c, known: known, samplePercent: 0, run: 5, full: false).isEmpty)
        #expect(VerifySelection.choose(c, known: known, samplePercent: 100, run: 5, full: false).count == c.count)
    }

    @Test func bucketsAreStable() {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c: the same on every machine and run.
        #expect(VerifySelection.bucket(of: "a", buckets: 1 << 20) == Int(0xaf63dc4c8601ec8c as UInt64 % (1 << 20)))
        #expect(VerifySelection.buckets(samplePercent: 3) == 34)
    }
}
