import TidemarkCore
import TidemarkPolicy

extension ExpireRepositoryReport {
    package init(repository: String, location: String, policy: RetentionPolicy) {
        self.init(repository: repository, location: location, policy: policy, hold: nil, windowStart: nil, windowEnd: nil,
                  backups: [], walDeleted: [], walKept: [], resumed: [], locked: [], backupsDeleted: 0, segmentsDeleted: 0,
                  objectsDeleted: 0, bytesFreed: 0, windowsBefore: [], windowsAfter: [], planHash: "", error: nil)
    }

    /// The plan's content; the counts are what it will delete (a run replaces them with what it did).
    package mutating func fill(run: ExpireRun, state: ExpireRun.State, plan: ExpireRun.Plan) {
        let size = state.size ?? .default
        let facts = Dictionary(state.summaries.map { ($0.id.rawValue, $0) }, uniquingKeysWith: { a, _ in a })
        hold = plan.retention.hold
        windowStart = plan.retention.windowStart.map { PostgresTimestamp(unixSeconds: $0).iso8601 }
        windowEnd = plan.retention.windowEnd.map { PostgresTimestamp(unixSeconds: $0).iso8601 }
        backups = plan.retention.decisions.map { ExpireBackup($0, facts: facts[$0.id]) }
        walDeleted = plan.retention.deletedWAL.map { ExpireWALRange($0, size: size) }
        walKept = plan.retention.keptWAL.map { ExpireWALRange($0, size: size) }
        resumed = state.pending.map(\.id.rawValue)
        locked = plan.locked
        let backupObjects = plan.backupObjects.values.flatMap { $0 }
        backupsDeleted = plan.retention.deletedBackups.count
        segmentsDeleted = plan.retention.deletedWAL.reduce(0) { $0 + $1.segments }
        objectsDeleted = backupObjects.count + plan.walObjects.count
        bytesFreed = backupObjects.reduce(0) { $0 + $1.size } + plan.walObjects.reduce(0) { $0 + $1.size }
        windowsBefore = plan.retention.windowsBefore.map(ExpireWindow.init)
        windowsAfter = plan.retention.windowsAfter.map(ExpireWindow.init)
        planHash = plan.hash
    }
}
