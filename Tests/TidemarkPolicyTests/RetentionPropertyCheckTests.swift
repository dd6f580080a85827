import Testing
import TidemarkCore
@testable import TidemarkPolicy

/// The property checks must see a broken plan: each takes real plans from generated histories,
/// breaks the one rule it guards, and must report it. (A check that cannot fail proves nothing.)
@Suite("Retention property checks catch broken plans")
struct RetentionPropertyCheckTests {
    typealias Check = (RetentionPolicy, RetentionInput, RetentionPlan) -> [String]

    /// Runs `mutate` on the plans of the first seeds; `mutate` returns nil when a plan offers
    /// nothing to break. Requires `check` to flag every broken plan, and enough of them.
    static func expectCaught(_ check: Check, minimum: Int = 10, _ mutate: (GeneratedHistory, RetentionPlan) -> RetentionPlan?) {
        var broken = 0
        for seed in UInt64(1)...60 {
            let h = GeneratedHistory(seed: seed)
            let plan = Retention.evaluate(h.policy, h.input)
            #expect(check(h.policy, h.input, plan).isEmpty, "seed \(seed): the intact plan is flagged")
            guard let bad = mutate(h, plan) else { continue }
            broken += 1
            #expect(!check(h.policy, h.input, bad).isEmpty, "seed \(seed): the broken plan passes")
        }
        #expect(broken >= minimum, "only \(broken) plans could be broken")
    }

    static func delete(_ id: String, in plan: RetentionPlan) -> RetentionPlan {
        var p = plan
        for i in p.decisions.indices where p.decisions[i].id == id { p.decisions[i].keep = false }
        return p
    }

    /// Moves segment `n` of `timeline` from the kept WAL to the deleted WAL.
    static func drop(_ n: SegmentNumber, of timeline: TimelineID, in plan: RetentionPlan, _ input: RetentionInput) -> RetentionPlan {
        var kept = RetentionProperties.set(plan.keptWAL)
        var deleted = RetentionProperties.set(plan.deletedWAL)
        kept[timeline]?.remove(n)
        deleted[timeline, default: []].insert(n)
        let wal = RetentionWAL(segments: input.segments, graph: input.graph, size: input.segmentSize)
        var p = plan
        p.keptWAL = kept.keys.sorted().flatMap { wal.runs((kept[$0] ?? []).sorted(), of: $0) }
        p.deletedWAL = deleted.keys.sorted().flatMap { wal.runs((deleted[$0] ?? []).sorted(), of: $0) }
        return p
    }

    @Test func aLostParent() {
        Self.expectCaught({ RetentionProperties.parents($1, $2) }) { h, plan in
            let kept = RetentionProperties.keptIDs(plan)
            guard let child = h.input.backups.first(where: { kept.contains($0.id) && $0.parent != nil }), let p = child.parent else { return nil }
            return Self.delete(p, in: plan)
        }
    }

    @Test func aDeletedNewestFull() {
        Self.expectCaught(RetentionProperties.newestFulls) { h, plan in
            guard plan.hold == nil, h.policy.minFullChains > 0,
                  let newest = RetentionProperties.inScope(h.input).filter({ $0.type == .full }).max(by: { ($0.endTime, $0.id) < ($1.endTime, $1.id) }) else { return nil }
            return Self.delete(newest.id, in: plan)
        }
    }

    @Test func aDeletedPin() {
        Self.expectCaught({ RetentionProperties.pinned($1, $2) }) { h, plan in
            h.input.backups.first { $0.pin != nil }.map { Self.delete($0.id, in: plan) }
        }
    }

    @Test func aKeeperMissingItsOwnWAL() {
        Self.expectCaught({ RetentionProperties.consistency($1, $2) }) { h, plan in
            let kept = RetentionProperties.keptIDs(plan)
            for b in h.input.backups where kept.contains(b.id) {
                let n = b.stopLSN.segment(size: h.input.segmentSize)
                if h.input.segments[b.stopTimeline]?[n] != nil { return Self.drop(n, of: b.stopTimeline, in: plan, h.input) }
            }
            return nil
        }
    }

    /// Deleting the newest segment of a timeline the window touches breaks every anchor's WAL.
    @Test func aWindowWithAHole() {
        Self.expectCaught(RetentionProperties.window) { h, plan in
            guard plan.hold == nil, let start = plan.windowStart else { return nil }
            for t in h.input.segments.keys.sorted().reversed() {
                if let last = h.input.lastCommit[t], last < start { continue }
                guard let path = h.input.graph.history(of: t)?.path, h.input.backups.contains(where: { RetentionProperties.onPath($0, path) }),
                      let newest = h.input.segments[t]?.keys.max() else { continue }
                return Self.drop(newest, of: t, in: plan, h.input)
            }
            return nil
        }
    }

    /// An anchor that ends inside the window (not before it) leaves the window's start unreachable.
    @Test func aWindowAnchoredTooLate() {
        Self.expectCaught(RetentionProperties.window, minimum: 3) { h, plan in
            guard plan.hold == nil, let start = plan.windowStart else { return nil }
            let path = h.input.graph.history(of: TimelineID(1))?.path ?? []
            if let last = h.input.lastCommit[TimelineID(1)], last < start { return nil }
            let onPath = h.input.backups.filter { RetentionProperties.onPath($0, path) }
            guard onPath.contains(where: { $0.endTime > start }), onPath.contains(where: { $0.endTime <= start }) else { return nil }
            var p = plan
            for b in onPath where b.endTime <= start { p = Self.delete(b.id, in: p) }
            return p
        }
    }

    @Test func aMislabelledOrMissingTierKeeper() {
        Self.expectCaught(RetentionProperties.tiers) { _, plan in
            guard plan.hold == nil, let i = plan.decisions.firstIndex(where: { $0.reasons.contains { $0.hasPrefix("daily ") || $0.hasPrefix("weekly ") } }) else { return nil }
            var p = plan
            p.decisions[i].reasons = p.decisions[i].reasons.map { $0.hasPrefix("daily ") || $0.hasPrefix("weekly ") ? $0 + "x" : $0 }
            return p
        }
        Self.expectCaught(RetentionProperties.tiers) { _, plan in
            guard plan.hold == nil, let i = plan.decisions.firstIndex(where: { $0.reasons.contains { $0.hasPrefix("monthly ") } }) else { return nil }
            var p = plan
            p.decisions[i].reasons.removeAll { $0.hasPrefix("monthly ") }
            return p
        }
    }

    @Test func aBackupAfterTheAsOfInstantDeleted() {
        Self.expectCaught({ RetentionProperties.asOf($1, $2) }, minimum: 3) { h, plan in
            guard let asOf = h.input.asOf, let b = h.input.backups.first(where: { $0.endTime > asOf }) else { return nil }
            return Self.delete(b.id, in: plan)
        }
    }

    @Test func aRestorableWindowThatShrankIntoThePITRWindow() {
        Self.expectCaught(RetentionProperties.windowsAfter) { h, plan in
            guard plan.hold == nil, let start = plan.windowStart,
                  let i = plan.windowsAfter.firstIndex(where: { w in h.input.lastCommit[w.timeline].map { $0 >= start } ?? false }) else { return nil }
            var p = plan
            p.windowsAfter[i].from = max(start, plan.windowsBefore.first { $0.timeline == p.windowsAfter[i].timeline }?.from ?? start) + 1
            return p
        }
    }

    @Test func aWrongHold() {
        Self.expectCaught(RetentionProperties.hold) { _, plan in
            var p = plan
            p.hold = plan.hold == nil ? "held for no reason" : nil
            return p
        }
    }

    @Test func aSegmentInNeitherListOrBothOrMiscounted() {
        Self.expectCaught({ RetentionProperties.partition($1, $2) }) { _, plan in
            guard !plan.keptWAL.isEmpty else { return nil }
            var p = plan
            p.keptWAL.removeLast()
            return p
        }
        Self.expectCaught({ RetentionProperties.partition($1, $2) }) { _, plan in
            guard let r = plan.keptWAL.first else { return nil }
            var p = plan
            p.deletedWAL.append(r)
            return p
        }
        Self.expectCaught({ RetentionProperties.partition($1, $2) }) { _, plan in
            guard !plan.deletedWAL.isEmpty else { return nil }
            var p = plan
            p.deletedWAL[0].bytes += 1
            return p
        }
    }
}
