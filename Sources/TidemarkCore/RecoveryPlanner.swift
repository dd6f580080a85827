/// Picks the base backup, the timeline path and the WAL for a recovery target, and proves the
/// target is reachable (PG-INTERNALS §5.4, §5.5): a pure function of the backups, the WAL
/// inventory, the segment summaries and the timeline histories.
public struct RecoveryPlanner: Sendable {
    public var backups: [PlannerBackup]
    public var inventory: WALInventory

    public init(backups: [PlannerBackup], inventory: WALInventory) {
        self.backups = backups
        self.inventory = inventory
    }

    var size: WALSegmentSize { inventory.segmentSize }

    /// Raised inside the search when a segment's completions are needed.
    struct NeedDetail: Error { var segment: WALSegmentName }

    public func plan(_ request: PlanRequest) -> PlanOutcome {
        do {
            return try makePlan(request)
        } catch let need as NeedDetail {
            return .needsDetail([need.segment])
        } catch let u as Unreachable {
            return .unreachable(u)
        } catch {
            return .unreachable(Unreachable(reason: .targetNotFound, message: "\(error)", alternatives: []))
        }
    }

    // MARK: - Timelines

    /// The timeline's history as WAL ranges, or nil when it is unknown.
    func path(to timeline: TimelineID) -> [TimelineRange]? {
        inventory.graph.history(of: timeline)?.path
    }

    /// The timeline whose file recovery reads for segment `s` on `path`: the newest one whose
    /// range begins in or before the segment (`XLogFileReadAnyTLI`).
    func timeline(of s: SegmentNumber, on path: [TimelineRange]) -> TimelineID {
        var chosen = path[0].timeline
        for r in path where r.begin.segment(size: size) <= s { chosen = r.timeline }
        return chosen
    }

    func name(_ s: SegmentNumber, on path: [TimelineRange]) -> WALSegmentName {
        WALSegmentName(timeline: timeline(of: s, on: path), segment: s, size: size)
    }

    func exists(_ s: SegmentNumber, on path: [TimelineRange]) -> Bool {
        inventory.segments[timeline(of: s, on: path)]?.contains(s) ?? false
    }

    /// When the timeline came to life (the time of its first record), if the archive shows it.
    func creationTime(of timeline: TimelineID) -> PostgresTimestamp? {
        guard let h = inventory.graph.history(of: timeline), let last = h.switches.last else { return nil }
        let s = last.switchpoint.segment(size: size)
        let name = WALSegmentName(timeline: timeline, segment: s, size: size)
        if let start = inventory.summaries[name]?.timelineStart, start.timeline == timeline { return start.time }
        let next = WALSegmentName(timeline: timeline, segment: s + 1, size: size)
        if let start = inventory.summaries[next]?.timelineStart, start.timeline == timeline { return start.time }
        return nil
    }

    /// Candidate target timelines, most preferred first.
    func timelines(for request: PlanRequest, notes: inout [String]) throws(Unreachable) -> [TimelineID] {
        let graph = inventory.graph
        try checkDamagedHistories(for: request, notes: &notes)
        switch request.timeline {
        case .id(let t):
            guard graph.history(of: t) != nil else {
                throw Unreachable(reason: .timelineNotFound, message: "timeline \(t) has no history file in the archive",
                                  alternatives: ["archived timelines: " + graph.timelines.map(\.description).joined(separator: ", ")])
            }
            return [t]
        case .latest:
            return [graph.newest()]
        case .current:
            return Array(Set(backups.map(\.timeline))).sorted(by: >)
        case .automatic:
            if case .time(let t) = request.target {
                // The timeline live at `t`: the newest-born one born at or before it.
                var live = TimelineID(1)
                var liveBorn: PostgresTimestamp?
                for tl in graph.timelines where tl.rawValue > 1 {
                    guard let born = creationTime(of: tl) else {
                        notes.append("timeline \(tl): its creation time is not in the archive's summaries; pass --target-timeline \(tl) to recover along it")
                        continue
                    }
                    if born <= t, liveBorn.map({ born >= $0 }) ?? true {
                        live = tl
                        liveBorn = born
                    }
                }
                return [live]
            }
            let newest = graph.newest()
            return [newest] + graph.timelines.filter { $0 != newest }.sorted(by: >)
        }
    }

    // MARK: - Planning

    func makePlan(_ request: PlanRequest) throws -> PlanOutcome {
        var notes: [String] = []
        guard !backups.isEmpty else {
            throw Unreachable(reason: .noBackup, message: "there is no complete backup in the repository",
                              alternatives: ["take one: tidemark backup"])
        }
        var candidates = backups.sorted { ($0.stopLSN, $0.id) > ($1.stopLSN, $1.id) }
        if let wanted = request.backup {
            candidates = candidates.filter { $0.id == wanted }
            guard !candidates.isEmpty else {
                throw Unreachable(reason: .noBackup, message: "backup '\(wanted)' does not exist",
                                  alternatives: ["`tidemark list` shows the backups"])
            }
        }
        let timelines = try timelines(for: request, notes: &notes)
        var firstFailure: Unreachable?
        for tl in timelines {
            guard let path = path(to: tl) else { continue }
            let usable = candidates.filter { onPath($0, path) && (request.timeline != .current || $0.timeline == tl) }
            if usable.isEmpty {
                let u = Unreachable(reason: .timelineDoesNotLead,
                                    message: "no backup lies on the history of timeline \(tl) (backups are on timeline "
                                        + Set(candidates.map(\.timeline.description)).sorted().joined(separator: ", ") + ")",
                                    alternatives: ["a target on a backup's own timeline (--target-timeline \(candidates[0].timeline))"])
                firstFailure = firstFailure ?? u
                continue
            }
            var found: RecoveryPlan?
            do {
                found = try planOn(path: path, timeline: tl, backups: usable, request: request)
            } catch let u as Unreachable {
                firstFailure = firstFailure ?? u
            }
            if var plan = found {
                plan.notes = notes + plan.notes
                // Outside the search: an ambiguous --latest is refused, not planned elsewhere.
                try checkDivergence(&plan, request: request)
                return .plan(plan)
            }
        }
        throw firstFailure ?? Unreachable(reason: .timelineNotFound, message: "no timeline in the archive leads to the target",
                                          alternatives: [])
    }

    /// The backup can start recovery along `path`: its timeline is on it and it finished
    /// before the path left that timeline.
    func onPath(_ b: PlannerBackup, _ path: [TimelineRange]) -> Bool {
        guard let r = path.first(where: { $0.timeline == b.timeline }) else { return false }
        return b.startLSN >= r.begin && (r.end.map { b.stopLSN <= $0 } ?? true)
    }

    /// The first segment of the run of archived segments on `path` that holds `lsn`.
    func runStart(containing lsn: LSN, on path: [TimelineRange]) -> SegmentNumber {
        var s = lsn.segment(size: size)
        while s > 0, exists(s - 1, on: path) { s -= 1 }
        return s
    }

    /// Walks the archive forward from segment `s`; returns the last present segment before
    /// the first missing one, or nil if `s` itself is missing.
    func lastContiguous(from s: SegmentNumber, on path: [TimelineRange]) -> SegmentNumber? {
        guard exists(s, on: path) else { return nil }
        var t = s
        while exists(t + 1, on: path) { t += 1 }
        return t
    }

    func endOfWAL(in s: SegmentNumber, on path: [TimelineRange]) -> LSN {
        inventory.summaries[name(s, on: path)]?.endLSN ?? LSN.start(of: s + 1, size: size)
    }

    /// Is there a segment after `s` anywhere on `path`'s timelines (so the end is a gap)?
    func hasLaterSegments(after s: SegmentNumber, on path: [TimelineRange]) -> Bool {
        path.contains { r in
            let last = r.end.map { $0.segmentEndingHere(size: size) } ?? .max
            return inventory.segments[r.timeline]?.contains { $0 > s && $0 <= last } ?? false
        }
    }

    func completions(in s: SegmentNumber, on path: [TimelineRange]) throws(NeedDetail) -> [WALCompletion] {
        let n = name(s, on: path)
        guard let d = inventory.details[n] else { throw NeedDetail(segment: n) }
        return d.sorted { $0.lsn < $1.lsn }
    }

    enum SearchEnd: Error { case missing(SegmentNumber), endOfArchive(LSN) }

    /// The first completion at or after `from` on `path` matching `matches`, using summaries to
    /// skip segments (`mayMatch` judges a summary) and details to find the record.
    func firstCompletion(from: LSN, on path: [TimelineRange], mayMatch: (SegmentSummary) -> Bool,
                         matches: (WALCompletion) -> Bool) throws -> Result<WALCompletion, SearchEnd> {
        var s = from.segment(size: size)
        while true {
            guard exists(s, on: path) else { return .failure(.missing(s)) }
            let n = name(s, on: path)
            let summary = inventory.summaries[n]
            if let summary {
                if let first = summary.first, first.lsn >= from, matches(first) { return .success(first) }
                if summary.completions > 0 && mayMatch(summary) {
                    if let hit = try completions(in: s, on: path).first(where: { $0.lsn >= from && matches($0) }) {
                        return .success(hit)
                    }
                }
            } else if let hit = try completions(in: s, on: path).first(where: { $0.lsn >= from && matches($0) }) {
                return .success(hit)
            }
            if !exists(s + 1, on: path) {
                return hasLaterSegments(after: s, on: path) ? .failure(.missing(s + 1)) : .failure(.endOfArchive(endOfWAL(in: s, on: path)))
            }
            s += 1
        }
    }

    /// The last completion before `lsn`, looking back no further than segment `floor`.
    func lastCompletion(before lsn: LSN, floor: SegmentNumber, on path: [TimelineRange]) throws -> WALCompletion? {
        var s = lsn.segmentEndingHere(size: size)
        while s >= floor, exists(s, on: path) {
            let n = name(s, on: path)
            if let summary = inventory.summaries[n], let last = summary.last, last.lsn < lsn { return last }
            if let summary = inventory.summaries[n], summary.completions == 0 {
                // nothing here
            } else if let hit = try completions(in: s, on: path).last(where: { $0.lsn < lsn }) {
                return hit
            }
            if s == 0 { break }
            s -= 1
        }
        return nil
    }

    func planOn(path: [TimelineRange], timeline: TimelineID, backups: [PlannerBackup], request: PlanRequest) throws -> RecoveryPlan {
        var rejected: [String] = []
        var lastFailure: Unreachable?
        let oldest = backups.min { $0.stopLSN < $1.stopLSN }
        func reject(_ b: PlannerBackup, _ why: Unreachable) {
            rejected.append(b.id)
            lastFailure = why
        }
        for b in backups {
            let stop: StopPoint
            var notes: [String] = []
            // Where the archive's WAL around the backup begins: completions from there on are
            // either inside the backup's data or replayed.
            let firstArchived = runStart(containing: b.startLSN, on: path)
            guard exists(b.startLSN.segment(size: size), on: path) else {
                let missing = name(b.startLSN.segment(size: size), on: path)
                reject(b, Unreachable(reason: .missingSegment, message: "backup \(b.id) needs WAL segment \(missing), which is not in the archive",
                                          alternatives: [], missing: missing.description))
                continue
            }
            switch request.target {
            case .immediate:
                stop = .consistency(b.stopLSN)
            case .latest:
                guard let last = lastContiguous(from: b.startLSN.segment(size: size), on: path) else { continue }
                if hasLaterSegments(after: last, on: path) {
                    let missing = name(last + 1, on: path)
                    throw Unreachable(reason: .missingSegment,
                                      message: "the archive has a gap: segment \(missing) is missing, so replay from backup \(b.id) cannot go past \(endOfWAL(in: last, on: path))",
                                      alternatives: ["--target-lsn \(endOfWAL(in: last, on: path)) (the end of the WAL before the gap)",
                                                     "find the missing segment (another repository, or pg_wal on the server) and archive it"],
                                      missing: missing.description)
                }
                stop = .endOfArchive(endOfWAL(in: last, on: path))
            case .lsn(let target):
                guard target >= b.stopLSN else {
                    reject(b, Unreachable(reason: .beforeOldestBackup,
                                              message: "LSN \(target) is before backup \(b.id) became consistent at \(b.stopLSN)",
                                              alternatives: oldest.map { ["--target-lsn \($0.stopLSN) or later (the oldest backup's consistency point)"] } ?? []))
                    continue
                }
                let s = target.segment(size: size)
                guard let last = lastContiguous(from: b.startLSN.segment(size: size), on: path), last >= s,
                      endOfWAL(in: last, on: path) > target else {
                    let reach = lastContiguous(from: b.startLSN.segment(size: size), on: path).map { endOfWAL(in: $0, on: path) }
                    throw Unreachable(reason: .afterArchiveEnd,
                                      message: "LSN \(target) is beyond the archived WAL on timeline \(timeline)" + (reach.map { ", which ends at \($0)" } ?? ""),
                                      alternatives: (reach.map { ["--target-lsn \($0) or earlier"] } ?? []) + ["--latest"])
                }
                stop = .lsn(target, inclusive: request.inclusive)
            case .name(let wanted):
                var found: WALRestorePoint?
                var s = firstArchived
                while exists(s, on: path) {
                    if let rp = inventory.summaries[name(s, on: path)]?.restorePoints.first(where: {
                        $0.name == wanted && $0.lsn >= LSN.start(of: firstArchived, size: size)
                    }) {
                        found = rp
                        break
                    }
                    s += 1
                }
                guard let rp = found else {
                    reject(b, Unreachable(reason: .targetNotFound,
                                              message: "no restore point named '\(wanted)' in the archived WAL on the history of timeline \(timeline) after backup \(b.id) began",
                                              alternatives: knownRestorePoints(on: path).map { "--target-name '\($0)'" }))
                    continue
                }
                guard rp.lsn >= b.stopLSN else {
                    reject(b, Unreachable(reason: .beforeOldestBackup,
                                              message: "restore point '\(wanted)' (at \(rp.lsn), \(rp.time)) was created before backup \(b.id) became consistent",
                                              alternatives: []))
                    continue
                }
                stop = .restorePoint(rp)
            case .xid(let xid):
                let result = try firstCompletion(from: LSN.start(of: firstArchived, size: size), on: path,
                                                 mayMatch: { s in (s.minXid ?? .max) <= xid && xid <= (s.maxXid ?? 0) },
                                                 matches: { $0.xid == xid })
                guard case .success(let c) = result else {
                    if case .failure(.missing(let m)) = result {
                        throw missingSegment(m, path: path, looking: "transaction \(xid)")
                    }
                    reject(b, Unreachable(reason: .targetNotFound,
                                              message: "transaction \(xid) did not commit or abort in the archived WAL on the history of timeline \(timeline) after backup \(b.id) began",
                                              alternatives: ["--latest"]))
                    continue
                }
                guard c.lsn >= b.stopLSN else {
                    reject(b, Unreachable(reason: .beforeOldestBackup,
                                              message: "transaction \(xid) ended at \(c.lsn) (\(c.time)), before backup \(b.id) became consistent",
                                              alternatives: []))
                    continue
                }
                stop = request.inclusive ? .after(c) : .before(c)
            case .time(let t):
                let result = try firstCompletion(from: LSN.start(of: firstArchived, size: size), on: path,
                                                 mayMatch: { s in s.maxTime.map { request.inclusive ? $0 > t : $0 >= t } ?? false },
                                                 matches: { request.inclusive ? $0.time > t : $0.time >= t })
                switch result {
                case .failure(.missing(let m)):
                    throw missingSegment(m, path: path, looking: "the first commit after \(t)")
                case .failure(.endOfArchive):
                    let last = try lastCompletion(before: LSN(UInt64.max), floor: firstArchived, on: path)
                    throw Unreachable(reason: .afterLastCommit,
                                      message: "no commit after \(t) is archived on the history of timeline \(timeline)"
                                          + (last.map { "; the last archived commit was at \($0.time)" } ?? "")
                                          + ". PostgreSQL needs a later commit to know it has reached \(t), and fails otherwise",
                                      alternatives: (last.map { ["--target-time '\($0.time.adding(microseconds: -1).postgresText)' or earlier"] } ?? [])
                                          + ["--latest (everything archived; then switch WAL on the server and archive it to get newer commits)"])
                case .success(let c):
                    guard c.lsn >= b.stopLSN else {
                        reject(b, Unreachable(reason: .beforeOldestBackup,
                                                  message: "\(t) is before backup \(b.id) became consistent (a commit at \(c.time) is already part of it)",
                                                  alternatives: []))
                        continue
                    }
                    if firstArchived == b.startLSN.segment(size: size), let started = b.startTime, t < started,
                       try lastCompletion(before: b.stopLSN, floor: firstArchived, on: path) == nil {
                        reject(b, Unreachable(reason: .beforeOldestBackup, message: "\(t) is before backup \(b.id) started (\(started))",
                                                  alternatives: []))
                        continue
                    }
                    stop = .before(c)
                }
            }
            // Every segment replay reads must be archived.
            let firstSegment = b.startLSN.segment(size: size)
            var lastSegment: SegmentNumber
            switch stop {
            case .before(let c), .after(let c): lastSegment = c.end.segmentEndingHere(size: size)
            case .restorePoint(let r): lastSegment = r.end.segmentEndingHere(size: size)
            case .lsn(let l, _):
                lastSegment = l.segment(size: size)
                if endOfWAL(in: lastSegment, on: path) <= l { lastSegment += 1 }
            case .consistency(let l), .endOfArchive(let l): lastSegment = l.segmentEndingHere(size: size)
            }
            lastSegment = max(lastSegment, firstSegment)
            var names: [WALSegmentName] = []
            for s in firstSegment...lastSegment {
                guard exists(s, on: path) else { throw missingSegment(s, path: path, looking: "replay from backup \(b.id)") }
                names.append(name(s, on: path))
            }
            let last: WALCompletion?
            switch stop {
            case .after(let c): last = c
            case .endOfArchive(let l): last = try lastCompletion(before: l, floor: firstArchived, on: path)
            default: last = try lastCompletion(before: stop.lsn, floor: firstArchived, on: path)
            }
            if !rejected.isEmpty {
                notes.append("newer backups cannot reach the target: " + rejected.joined(separator: ", "))
            }
            let histories = path.count > 1 ? [timeline] : []
            let replay = stop.lsn > b.startLSN ? stop.lsn.rawValue - b.startLSN.rawValue : 0
            return RecoveryPlan(request: request, backup: b, targetTimeline: timeline, path: path, stop: stop, lastCompletion: last,
                                segments: names, histories: histories, replayBytes: replay, notes: notes)
        }
        if let lastFailure, lastFailure.reason != .beforeOldestBackup { throw lastFailure }
        var alternatives: [String] = []
        if let oldest {
            alternatives.append("the earliest reachable point is backup \(oldest.id)'s consistency point: --backup \(oldest.id) --target-immediate"
                                + (oldest.stopTime.map { " (about \($0))" } ?? ""))
        }
        throw Unreachable(reason: .beforeOldestBackup,
                          message: (lastFailure?.message ?? "the target is before every backup") + "; no older backup can reach it",
                          alternatives: alternatives)
    }

    func missingSegment(_ s: SegmentNumber, path: [TimelineRange], looking: String) -> Unreachable {
        let n = name(s, on: path)
        let before = s > 0 ? endOfWAL(in: s - 1, on: path) : LSN.zero
        return Unreachable(reason: .missingSegment, message: "WAL segment \(n) is missing from the archive; it is needed for \(looking)",
                           alternatives: ["a target before \(LSN.start(of: s, size: size)) (e.g. --target-lsn \(before))",
                                          "find \(n) (another repository, or pg_wal on the server) and archive it"],
                           missing: n.description)
    }

    func knownRestorePoints(on path: [TimelineRange]) -> [String] {
        var names: [String] = []
        for (n, summary) in inventory.summaries {
            guard n == name(n.segmentNumber(size: size) ?? 0, on: path) else { continue }
            names += summary.restorePoints.map(\.name)
        }
        return Array(Set(names)).sorted().prefix(5).map { $0 }
    }
}
