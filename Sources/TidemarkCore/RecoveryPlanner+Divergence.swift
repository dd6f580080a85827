/// Another timeline with newer commits than the chosen one: a copy restored for a test and
/// promoted (timeline 2) while production went on committing on timeline 1. PostgreSQL's
/// `latest` follows the highest timeline; that is not always the one a DBA means.
public struct TimelineDivergence: Sendable, Hashable {
    /// The timeline holding commits the plan would not apply.
    public var timeline: TimelineID
    /// Its newest commit the plan would not apply.
    public var lastCommit: PostgresTimestamp
    /// The timeline the plan follows.
    public var chosen: TimelineID
    /// Where the plan's path leaves `timeline` (nil: `timeline` is not on the path at all).
    public var branchedAt: LSN?
    public var chosenBorn: PostgresTimestamp?

    public var message: String {
        var text = "timeline \(timeline) has commits until \(lastCommit.postgresText)"
        if let branchedAt {
            text += ", after timeline \(chosen) branched from it at \(branchedAt)"
            if let chosenBorn { text += " (\(chosenBorn.postgresText))" }
        } else {
            text += ", which recovery along timeline \(chosen) does not apply"
        }
        return text + ": choose one"
    }
}

extension RecoveryPlanner {
    /// Timelines other than the plan's that hold commits newer than the newest one the plan
    /// applies and that its path does not include.
    func divergences(of plan: RecoveryPlan) -> [TimelineDivergence] {
        let applied = plan.lastCompletion?.time
        var found: [TimelineDivergence] = []
        for tl in inventory.graph.timelines where tl != plan.targetTimeline {
            let range = plan.path.first { $0.timeline == tl }
            // Commits of `tl` at or after the point where the path leaves it are not applied.
            let leaves = range?.end
            var newest: PostgresTimestamp?
            for s in inventory.segments[tl] ?? [] {
                if let leaves, s < leaves.segment(size: size) { continue }
                let name = WALSegmentName(timeline: tl, segment: s, size: size)
                guard let summary = inventory.summaries[name], let t = summary.maxTime else { continue }
                if let end = summary.endLSN, let leaves, end <= leaves { continue }
                if newest.map({ t > $0 }) ?? true { newest = t }
            }
            guard let newest, applied.map({ newest > $0 }) ?? true else { continue }
            found.append(TimelineDivergence(timeline: tl, lastCommit: newest, chosen: plan.targetTimeline, branchedAt: leaves,
                                            chosenBorn: creationTime(of: plan.targetTimeline)))
        }
        return found
    }

    /// Adds a note for each divergence; for `--latest` with no `--target-timeline`, refuses.
    func checkDivergence(_ plan: inout RecoveryPlan, request: PlanRequest) throws(Unreachable) {
        let found = divergences(of: plan)
        guard let first = found.first else { return }
        if request.target == .latest && request.timeline == .automatic {
            throw Unreachable(reason: .timelineAmbiguous, message: first.message,
                              alternatives: ["--target-timeline \(first.timeline) (its commits until \(first.lastCommit.postgresText))",
                                             "--target-timeline \(plan.targetTimeline) (the newest timeline, as PostgreSQL's 'latest')"])
        }
        plan.notes += found.map(\.message)
    }
}
