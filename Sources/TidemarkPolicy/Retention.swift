import TidemarkCore

/// Retention as a pure function (docs/retention.md): backups, WAL, timelines, a policy and
/// the time → what to keep and why. The same input gives the same plan whatever order the
/// catalogs were read in.
public enum Retention {
    /// The reason a deleted backup carries.
    public static let deletedReason = "no rule keeps it"

    public static func evaluate(_ policy: RetentionPolicy, _ input: RetentionInput) -> RetentionPlan {
        let backups = input.backups.sorted { ($0.endTime, $0.id) < ($1.endTime, $1.id) }
        var wal = RetentionWAL(segments: input.segments, graph: input.graph, size: input.segmentSize)
        let allSegments = input.segments.mapValues { Set($0.keys) }
        let before = RetentionWAL.windows(backups: backups, segments: allSegments, graph: input.graph,
                                          size: input.segmentSize, lastCommit: input.lastCommit)
        func keepEverything(_ why: String) -> RetentionPlan {
            let runs = RetentionWAL(segments: input.segments, graph: input.graph, size: input.segmentSize)
            var all = runs
            for t in input.segments.keys { all.keepAll(of: t) }
            return RetentionPlan(decisions: backups.map { RetentionDecision(id: $0.id, keep: true, reasons: [why], endTime: $0.endTime, storedBytes: $0.storedBytes) },
                                 deletedWAL: [], keptWAL: all.split().kept, windowStart: nil, windowEnd: nil, hold: why,
                                 windowsBefore: before, windowsAfter: before)
        }
        guard let newest = backups.last else {
            return keepEverything("no backup: nothing to measure retention from")
        }
        let stale = input.now - newest.endTime
        if stale > 2 * policy.expectedInterval {
            return keepEverything("the newest backup, \(newest.id), ended \(stale / 3600) hours ago (more than twice the policy's interval of \(policy.expectedInterval / 3600) hours): backups are failing, and expire deletes nothing until one succeeds")
        }

        var reasons: [String: [String]] = [:]
        func keep(_ id: String, _ why: String) {
            if reasons[id]?.contains(why) != true { reasons[id, default: []].append(why) }
        }
        let cutoff = input.asOf ?? Int64.max
        let inScope = backups.filter { $0.endTime <= cutoff }
        for b in backups where b.endTime > cutoff { keep(b.id, "newer than as-of") }

        // Calendar tiers, newest first: the newest backup of each of the N most recent buckets.
        if let calendar = RetentionCalendar(timeZone: policy.timeZone) {
            let tiers: [(RetentionCalendar.Tier, Int)] = [(.daily, policy.daily), (.weekly, policy.weekly),
                                                          (.monthly, policy.monthly), (.yearly, policy.yearly)]
            for (tier, count) in tiers where count > 0 {
                for (b, bucket) in calendar.newestPerBucket(tier, count: count, of: inScope, time: { $0.endTime }) {
                    keep(b.id, "\(tier.rawValue) \(bucket)")
                }
            }
        } else {
            return keepEverything("retention.timeZone '\(policy.timeZone ?? "")' names no time zone this system knows")
        }

        // The newest full chains: a full backup and every incremental built on it.
        var children: [String: [String]] = [:]
        for b in backups { if let p = b.parent { children[p, default: []].append(b.id) } }
        for full in inScope.filter({ $0.type == .full }).suffix(max(0, policy.minFullChains)) {
            var stack = [full.id]
            var visited: Set<String> = []
            while let id = stack.popLast() {
                guard visited.insert(id).inserted else { continue }  // a damaged catalog may name a cycle
                if backups.contains(where: { $0.id == id && $0.endTime <= cutoff }) { keep(id, "newest full chain") }
                stack += children[id] ?? []
            }
        }

        for b in backups { if let why = b.pin { keep(b.id, why.isEmpty ? "pinned" : "pinned: \(why)") } }
        for b in backups { if let until = b.lockedUntil { keep(b.id, "object lock until \(until)") } }
        let byID = Dictionary(backups.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        // A restore in progress keeps its backup and the WAL its recovery reads.
        for r in input.readers {
            guard let b = byID[r.backup] else { continue }
            keep(b.id, r.reason)
            if let path = wal.path(to: r.timeline) { wal.keep(on: path, from: b.startLSN, to: nil) } else { wal.keepAll(of: r.timeline) }
        }

        // The PITR window: on every timeline it touches, the newest backup that ends before it
        // starts and everything after, with all WAL from that backup's start onward.
        let windowEnd = input.asOf ?? input.lastCommit.values.max() ?? newest.endTime
        let windowStart = windowEnd - Int64(max(0, policy.pitrDays)) * 86_400
        var anchors: Set<String> = []
        let timelines = Set(input.segments.keys).union(backups.map(\.stopTimeline)).sorted()
        for timeline in timelines {
            if let last = input.lastCommit[timeline], last < windowStart { continue }
            guard let path = wal.path(to: timeline) else {
                wal.keepAll(of: timeline)
                continue
            }
            let onPath = inScope.filter { RetentionWAL.onPath($0, path) }
            guard let anchor = onPath.last(where: { $0.endTime <= windowStart }) ?? onPath.first else { continue }
            keep(anchor.id, "pitr window")
            anchors.insert(anchor.id)
            for b in onPath where b.endTime > windowStart { keep(b.id, "pitr window") }
            wal.keep(on: path, from: anchor.startLSN, to: nil)
        }

        // A kept backup keeps the chain it depends on.
        for b in backups.reversed() where reasons[b.id] != nil {
            var child = b
            var visited: Set<String> = [b.id]
            while let p = child.parent, let parent = byID[p], visited.insert(parent.id).inserted {
                keep(parent.id, "parent of \(child.id)")
                child = parent
            }
        }

        var decisions: [RetentionDecision] = []
        var keptBackups: [RetentionBackup] = []
        for b in backups {
            if let why = reasons[b.id] {
                decisions.append(RetentionDecision(id: b.id, keep: true, reasons: why, endTime: b.endTime, storedBytes: b.storedBytes))
                keptBackups.append(b)
                wal.keepConsistency(of: b)
            } else {
                decisions.append(RetentionDecision(id: b.id, keep: false, reasons: [deletedReason], endTime: b.endTime, storedBytes: b.storedBytes))
            }
        }
        let (deleted, kept) = wal.split()
        var after = allSegments
        for r in deleted { after[r.timeline]?.subtract(r.first...r.last) }
        let windowsAfter = RetentionWAL.windows(backups: keptBackups, segments: after, graph: input.graph,
                                                size: input.segmentSize, lastCommit: input.lastCommit)
        return RetentionPlan(decisions: decisions, deletedWAL: deleted, keptWAL: kept, windowStart: windowStart,
                             windowEnd: windowEnd, hold: nil, windowsBefore: before, windowsAfter: windowsAfter, pitrAnchors: anchors)
    }
}
