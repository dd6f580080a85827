import Testing
import TidemarkCore
@testable import TidemarkPolicy

/// docs/retention.md's rules over generated histories (RetentionHistoryGenerator): each seed
/// is a two-year history with a random policy. A failure names its seed; reproduce it with
/// `GeneratedHistory(seed:)`.
@Suite("Retention properties")
struct RetentionPropertyTests {
    static let seeds: [UInt64] = Array(1...300)

    @Test func generatedHistoriesKeepEveryRule() {
        var held = 0
        var deleted = 0
        var branched = 0
        for seed in Self.seeds {
            let h = GeneratedHistory(seed: seed)
            let plan = Retention.evaluate(h.policy, h.input)
            let problems = RetentionProperties.all(h.policy, h.input, plan)
            #expect(problems.isEmpty, "seed \(seed), policy \(h.policy): \(problems.prefix(5))")
            if plan.hold != nil { held += 1 }
            if !plan.deletedBackups.isEmpty && !plan.deletedWAL.isEmpty { deleted += 1 }
            if h.input.graph.histories.count > 1 { branched += 1 }
        }
        // The generator reaches the interesting cases, not only holds or keep-everything plans.
        #expect(held >= 10 && held <= Self.seeds.count / 2, "held \(held)")
        #expect(deleted >= Self.seeds.count / 3, "plans deleting backups and WAL: \(deleted)")
        #expect(branched >= Self.seeds.count / 3, "histories with several timelines: \(branched)")
    }

    /// Seeds that found a backup of a standby that followed a promotion (starts on timeline 1,
    /// stops on 2) taken for a backup of timeline 1 on the path of a later branch of timeline 1:
    /// it became that branch's PITR anchor and the real anchor was deleted.
    @Test(arguments: [993, 1544, 1626, 1686, 1696, 1960] as [UInt64])
    func aBackupThatStopsOnAnotherTimelineIsNoAnchorForABranchItIsNotOn(seed: UInt64) {
        let h = GeneratedHistory(seed: seed)
        let problems = RetentionProperties.all(h.policy, h.input, Retention.evaluate(h.policy, h.input))
        #expect(problems.isEmpty, "seed \(seed): \(problems.prefix(5))")
    }

    /// Shuffling the backups, and rebuilding every dictionary in another insertion order, gives
    /// the same plan.
    @Test func thePlanDoesNotDependOnTheOrderCatalogsWereRead() {
        for seed in Self.seeds.prefix(150) {
            let h = GeneratedHistory(seed: seed)
            let plan = Retention.evaluate(h.policy, h.input)
            var rng = SplitMix64(seed: seed ^ 0xA5A5)
            var shuffled = h.input
            shuffled.backups.shuffle(using: &rng)
            shuffled.segments = Dictionary(uniqueKeysWithValues: h.input.segments.shuffled(using: &rng).map {
                ($0.key, Dictionary(uniqueKeysWithValues: $0.value.shuffled(using: &rng)))
            })
            shuffled.lastCommit = Dictionary(uniqueKeysWithValues: h.input.lastCommit.shuffled(using: &rng))
            shuffled.graph = TimelineGraph(histories: h.input.graph.histories.values.shuffled(using: &rng))
            let again = Retention.evaluate(h.policy, shuffled)
            #expect(again.decisions == plan.decisions, "seed \(seed)")
            #expect(again.deletedWAL == plan.deletedWAL, "seed \(seed)")
            #expect(again.keptWAL == plan.keptWAL, "seed \(seed)")
            #expect(again.hold == plan.hold && again.windowsAfter == plan.windowsAfter, "seed \(seed)")
        }
    }
}
