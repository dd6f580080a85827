import TidemarkCore
@testable import TidemarkPolicy

/// The rules of docs/retention.md as checks on a plan, written without RetentionWAL's code:
/// each returns what it found wrong (empty when the plan keeps the rule).
enum RetentionProperties {
    typealias Segments = [TimelineID: Set<SegmentNumber>]

    static func all(_ policy: RetentionPolicy, _ input: RetentionInput, _ plan: RetentionPlan) -> [String] {
        partition(input, plan) + hold(policy, input, plan) + pinned(input, plan) + parents(input, plan)
            + newestFulls(policy, input, plan) + consistency(input, plan) + window(policy, input, plan)
            + tiers(policy, input, plan) + asOf(input, plan) + windowsAfter(policy, input, plan)
    }

    /// The backups an evaluation as of `input.asOf` decides about (all, without one).
    static func inScope(_ input: RetentionInput) -> [RetentionBackup] {
        input.backups.filter { $0.endTime <= input.asOf ?? .max }
    }

    /// Backups that end after the as-of instant are left alone.
    static func asOf(_ input: RetentionInput, _ plan: RetentionPlan) -> [String] {
        let kept = keptIDs(plan)
        return input.backups.filter { $0.endTime > input.asOf ?? .max && !kept.contains($0.id) }
            .map { "as-of: \($0.id) ends after the as-of instant, yet deleted" }
    }

    /// The restorable window each timeline the PITR window touches reports after expire still
    /// reaches back to the window's start (or to where it reached before, if that is later).
    /// Only timelines with a known newest commit: without one, retention keeps the WAL from the
    /// newest backup before the window, and a timeline whose archived WAL ends before that
    /// backup's (an abandoned branch) has nothing in the window to lose, while the older
    /// backup that reached its last segments may go.
    static func windowsAfter(_ policy: RetentionPolicy, _ input: RetentionInput, _ plan: RetentionPlan) -> [String] {
        guard plan.hold == nil else {
            return plan.windowsAfter == plan.windowsBefore ? [] : ["windows: held, yet the window after differs"]
        }
        guard let start = plan.windowStart else { return [] }
        var out: [String] = []
        for before in plan.windowsBefore {
            guard let last = input.lastCommit[before.timeline], last >= start else { continue }
            guard let after = plan.windowsAfter.first(where: { $0.timeline == before.timeline }) else {
                out.append("windows: timeline \(before.timeline) had a restorable window, has none after"); continue
            }
            if after.from > max(start, before.from) {
                out.append("windows: timeline \(before.timeline) restorable from \(after.from) after, needs \(max(start, before.from))")
            }
        }
        return out
    }

    static func keptIDs(_ plan: RetentionPlan) -> Set<String> { Set(plan.decisions.filter(\.keep).map(\.id)) }

    static func set(_ ranges: [SegmentRange]) -> Segments {
        var out: Segments = [:]
        for r in ranges where r.first <= r.last { out[r.timeline, default: []].formUnion(r.first...r.last) }
        return out
    }

    /// Every backup decided once; deleted and kept WAL partition the input's segments, each run
    /// is contiguous with its count and bytes right; bytes freed add up.
    static func partition(_ input: RetentionInput, _ plan: RetentionPlan) -> [String] {
        var out: [String] = []
        if plan.decisions.map(\.id).sorted() != input.backups.map(\.id).sorted() { out.append("partition: decisions are not one per backup") }
        var seen: Segments = [:]
        for r in plan.deletedWAL + plan.keptWAL {
            let have = input.segments[r.timeline] ?? [:]
            guard r.first <= r.last else { out.append("partition: empty range \(r)"); continue }
            let numbers = Array(r.first...r.last)
            if numbers.contains(where: { have[$0] == nil }) { out.append("partition: \(r) names a segment that does not exist") }
            if r.segments != numbers.count { out.append("partition: \(r) counts \(r.segments) segments") }
            if r.bytes != numbers.reduce(0, { $0 + (have[$1] ?? 0) }) { out.append("partition: \(r) has the wrong bytes") }
            for n in numbers where !seen[r.timeline, default: []].insert(n).inserted {
                out.append("partition: segment \(n) of timeline \(r.timeline) is in two ranges")
            }
        }
        let original = input.segments.compactMapValues { $0.isEmpty ? nil : Set($0.keys) }
        if seen.filter({ !$0.value.isEmpty }) != original { out.append("partition: deleted and kept WAL are not the input's segments") }
        let freedBackups = input.backups.filter { b in plan.decisions.contains { $0.id == b.id && !$0.keep } }.reduce(0) { $0 + $1.storedBytes }
        let freedWAL = plan.deletedWAL.reduce(Int64(0)) { sum, r in
            sum + (r.first...r.last).reduce(Int64(0)) { $0 + (input.segments[r.timeline]?[$1] ?? 0) }
        }
        if plan.bytesFreed != freedBackups + freedWAL { out.append("partition: bytesFreed \(plan.bytesFreed) != \(freedBackups + freedWAL)") }
        return out
    }

    /// Failing backups (the newest older than twice the interval) hold everything; else no hold.
    static func hold(_ policy: RetentionPolicy, _ input: RetentionInput, _ plan: RetentionPlan) -> [String] {
        guard let newest = input.backups.map(\.endTime).max() else {
            return plan.hold == nil ? ["hold: no backups, yet no hold"] : []
        }
        if input.now - newest > 2 * policy.expectedInterval {
            var out: [String] = []
            if plan.hold == nil { out.append("hold: newest backup \(input.now - newest) s old, yet no hold") }
            if plan.decisions.contains(where: { !$0.keep }) { out.append("hold: held, yet a backup is deleted") }
            if !plan.deletedWAL.isEmpty { out.append("hold: held, yet WAL is deleted") }
            return out
        }
        return plan.hold.map { ["hold: newest backup \(input.now - newest) s old, yet held: \($0)"] } ?? []
    }

    static func pinned(_ input: RetentionInput, _ plan: RetentionPlan) -> [String] {
        let kept = keptIDs(plan)
        return input.backups.filter { $0.pin != nil && !kept.contains($0.id) }.map { "pinned: \($0.id) is pinned, yet deleted" }
    }

    static func parents(_ input: RetentionInput, _ plan: RetentionPlan) -> [String] {
        let kept = keptIDs(plan)
        let ids = Set(input.backups.map(\.id))
        return input.backups.compactMap { b in
            guard kept.contains(b.id), let p = b.parent, ids.contains(p), !kept.contains(p) else { return nil }
            return "parents: \(b.id) is kept, its parent \(p) is not"
        }
    }

    static func newestFulls(_ policy: RetentionPolicy, _ input: RetentionInput, _ plan: RetentionPlan) -> [String] {
        guard plan.hold == nil else { return [] }
        let kept = keptIDs(plan)
        let fulls = inScope(input).filter { $0.type == .full }.sorted { ($0.endTime, $0.id) < ($1.endTime, $1.id) }
        return fulls.suffix(max(0, policy.minFullChains)).filter { !kept.contains($0.id) }
            .map { "newest fulls: \($0.id) is among the newest \(policy.minFullChains) full backups, yet deleted" }
    }

    /// Segments of `path` holding WAL in [from, through] (through nil: to `newest` on the last range).
    static func needed(_ path: [TimelineRange], from: LSN, through: LSN?, newest: SegmentNumber?, size: WALSegmentSize) -> [(TimelineID, SegmentNumber)] {
        var out: [(TimelineID, SegmentNumber)] = []
        for r in path {
            let lo = max(r.begin, from)
            var hi: SegmentNumber?
            if let end = r.end {
                guard end > lo, end.rawValue > 0 else { continue }
                hi = LSN(end.rawValue - 1).segment(size: size)
            }
            if let through {
                guard through >= lo else { continue }
                hi = min(hi ?? .max, through.segment(size: size))
            }
            guard let last = hi ?? newest, last >= lo.segment(size: size) else { continue }
            out += (lo.segment(size: size)...last).map { (r.timeline, $0) }
        }
        return out
    }

    /// Recovery along `path` can start from `b`: it starts on the path and it stops on the path
    /// (a backup of a standby that followed a promotion stops on the child timeline).
    static func onPath(_ b: RetentionBackup, _ path: [TimelineRange]) -> Bool {
        let starts = path.firstIndex { $0.timeline == b.timeline && $0.contains(b.startLSN) }
        let stops = path.firstIndex { $0.timeline == b.stopTimeline && $0.begin <= b.stopLSN && ($0.end.map { b.stopLSN <= $0 } ?? true) }
        guard let starts, let stops else { return false }
        return starts <= stops
    }

    /// Every kept backup keeps the WAL from its start to its stop that existed.
    static func consistency(_ input: RetentionInput, _ plan: RetentionPlan) -> [String] {
        let kept = keptIDs(plan)
        let after = set(plan.keptWAL)
        var out: [String] = []
        for b in input.backups where kept.contains(b.id) {
            var need: [(TimelineID, SegmentNumber)]
            if let path = input.graph.history(of: b.stopTimeline)?.path, let i = path.firstIndex(where: { $0.timeline == b.timeline }) {
                need = needed(Array(path[i...]), from: b.startLSN, through: b.stopLSN, newest: nil, size: input.segmentSize)
            } else {
                let range = b.startLSN.segment(size: input.segmentSize)...b.stopLSN.segment(size: input.segmentSize)
                need = range.map { (b.timeline, $0) } + range.map { (b.stopTimeline, $0) }
            }
            for (t, n) in need where input.segments[t]?[n] != nil && after[t]?.contains(n) != true {
                out.append("consistency: kept \(b.id) lost segment \(n) of timeline \(t)")
            }
        }
        return out
    }

    /// Every instant of the PITR window stays reachable on every timeline it touches.
    static func window(_ policy: RetentionPolicy, _ input: RetentionInput, _ plan: RetentionPlan) -> [String] {
        guard plan.hold == nil, let newestEnd = input.backups.map(\.endTime).max() else { return [] }
        let windowEnd = input.asOf ?? input.lastCommit.values.max() ?? newestEnd
        let windowStart = windowEnd - Int64(policy.pitrDays) * 86_400
        var out: [String] = []
        if plan.windowStart != windowStart || plan.windowEnd != windowEnd {
            out.append("window: [\(String(describing: plan.windowStart)), \(String(describing: plan.windowEnd))] != [\(windowStart), \(windowEnd)]")
        }
        let kept = keptIDs(plan)
        let after = set(plan.keptWAL)
        let timelines = Set(input.segments.keys).union(input.graph.histories.keys)
        for t in timelines.sorted() {
            if let last = input.lastCommit[t], last < windowStart { continue }
            guard let path = input.graph.history(of: t)?.path else {
                if Set(input.segments[t]?.keys ?? [:].keys) != after[t] ?? [] { out.append("window: timeline \(t) has no history, yet lost WAL") }
                continue
            }
            let onPath = inScope(input).filter { Self.onPath($0, path) }
            guard let oldest = onPath.map(\.endTime).min() else { continue }
            let limit = max(windowStart, oldest)
            let newest = input.segments[t]?.keys.max()
            let anchors = onPath.filter { kept.contains($0.id) && $0.endTime <= limit }
            let reachable = anchors.contains { a in
                needed(path, from: a.startLSN, through: nil, newest: newest, size: input.segmentSize)
                    .allSatisfy { t, n in input.segments[t]?[n] == nil || after[t]?.contains(n) == true }
            }
            if !reachable { out.append("window: timeline \(t): no kept backup ending by \(limit) with its WAL to segment \(String(describing: newest))") }
        }
        return out
    }

    /// The backups kept for a calendar reason are the reference's, with the same buckets.
    static func tiers(_ policy: RetentionPolicy, _ input: RetentionInput, _ plan: RetentionPlan) -> [String] {
        guard plan.hold == nil, let reference = ReferenceCalendar(timeZone: policy.timeZone) else { return [] }
        let prefixes = RetentionCalendar.Tier.allCases.map { $0.rawValue + " " }
        var got: Set<String> = []
        for d in plan.decisions where d.keep {
            for r in d.reasons where prefixes.contains(where: { r.hasPrefix($0) }) { got.insert("\(d.id) \(r)") }
        }
        let want = reference.tierKeepers(inScope(input), policy: policy)
        if got == want { return [] }
        return ["tiers: only the plan has \(got.subtracting(want).sorted()); only the reference has \(want.subtracting(got).sorted())"]
    }
}
