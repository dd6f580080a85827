extension RecoveryPlanner {
    /// A damaged history file (junk archived by an older version, or an object that no longer
    /// authenticates) blocks only the recoveries that would read it. Recovery reads the history
    /// of its target timeline alone (it holds the whole ancestry), so a damaged file matters
    /// when its timeline is the one asked for, holds a backup, or, when the planner chooses the
    /// timeline itself, holds archived WAL (a real timeline the planner cannot place). Any
    /// other damaged file is only a note.
    func checkDamagedHistories(for request: PlanRequest, notes: inout [String]) throws(Unreachable) {
        for (timeline, problem) in inventory.graph.damaged.sorted(by: { $0.key < $1.key }) {
            let name = timeline.hex + ".history"
            let hasWAL = !(inventory.segments[timeline]?.isEmpty ?? true)
            let hasBackup = backups.contains { $0.timeline == timeline }
            let needed: Bool
            switch request.timeline {
            case .id(let t): needed = t == timeline
            case .current: needed = hasBackup
            case .latest, .automatic: needed = hasWAL || hasBackup
            }
            if needed {
                let others = inventory.graph.timelines.filter { $0 != timeline }
                throw Unreachable(reason: .historyDamaged,
                                  message: "the archived history file \(name) of timeline \(timeline) is damaged (\(problem)), "
                                      + "and recovery along timeline \(timeline) needs it",
                                  alternatives: others.isEmpty ? [] : ["--target-timeline \(others.map(\.description).joined(separator: " or ")) (a timeline whose history is intact)"],
                                  missing: name)
            }
            notes.append("the archived \(name) is damaged (\(problem)) and was not used: this recovery does not follow timeline \(timeline)"
                         + (hasWAL ? "" : ", which has no archived WAL"))
        }
    }
}
