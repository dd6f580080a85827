/// The instants recovery along one timeline can reach: from the consistency point of the
/// oldest backup that reaches the timeline's last archived commit without a gap, to that
/// commit. What a DBA asks first: "to which instants can I recover?"
public struct RestorableWindow: Sendable, Hashable {
    public var timeline: TimelineID
    /// The backup's stop time (its consistency point; one-second resolution).
    public var from: PostgresTimestamp
    /// The last archived commit reachable along the timeline.
    public var until: PostgresTimestamp
    public var backup: String

    public init(timeline: TimelineID, from: PostgresTimestamp, until: PostgresTimestamp, backup: String) {
        self.timeline = timeline
        self.from = from
        self.until = until
        self.backup = backup
    }
}

extension RecoveryPlanner {
    /// One step of finding the windows: the window of `timeline` using `backup`, or what is
    /// needed to know it. nil: this backup cannot reach the end of the timeline.
    public enum WindowStep: Sendable {
        case window(RestorableWindow)
        case needsDetail([WALSegmentName])
        case none
    }

    /// Backups worth trying for `timeline`'s window, oldest first (a wider window first).
    public func windowCandidates(for timeline: TimelineID) -> [PlannerBackup] {
        guard let path = path(to: timeline) else { return [] }
        return backups.filter { onPath($0, path) && $0.stopTime != nil }.sorted { ($0.stopLSN, $0.id) < ($1.stopLSN, $1.id) }
    }

    public func window(for timeline: TimelineID, using backup: PlannerBackup) -> WindowStep {
        switch plan(PlanRequest(target: .latest, timeline: .id(timeline), backup: backup.id)) {
        case .plan(let p):
            guard let last = p.lastCompletion, let from = backup.stopTime, last.time >= from else { return .none }
            return .window(RestorableWindow(timeline: timeline, from: from, until: last.time, backup: backup.id))
        case .needsDetail(let names):
            return .needsDetail(names)
        case .unreachable:
            return .none
        }
    }
}
