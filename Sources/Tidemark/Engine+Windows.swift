import TidemarkCore
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCodec
import TidemarkStorage

/// One timeline's restorable window in `info` (docs/info.md): UTC instants, PostgreSQL's format.
public struct RestorableWindowEntry: Codable, Sendable, Equatable {
    public var timeline: UInt32
    public var from: String
    public var until: String
    /// The oldest backup that reaches `until` without a gap.
    public var backup: String
}

extension Engine {
    /// Per timeline, from the oldest backup that reaches its last archived commit to that commit
    /// (`RecoveryPlanner.window`). Empty when the stanza has no backup.
    package static func restorableWindows(_ repo: Repository, stanza: String) async throws -> [RestorableWindowEntry] {
        let catalogs = try await BackupStore(repository: repo, stanza: stanza).catalogs()
        guard !catalogs.isEmpty, let info = try await repo.stanzaInfo(stanza),
              let size = WALSegmentSize(rawValue: info.walSegmentSize) else { return [] }
        let loader = WALInventoryLoader(repository: repo, stanza: stanza, size: size)
        let (loaded, facts) = try await loader.load()
        var inventory = loaded
        let backups = catalogs.map(plannerBackup)
        var windows: [RestorableWindowEntry] = []
        for timeline in inventory.graph.timelines where inventory.segments[timeline]?.isEmpty == false {
            var planner = RecoveryPlanner(backups: backups, inventory: inventory)
            candidates: for backup in planner.windowCandidates(for: timeline) {
                while true {
                    switch planner.window(for: timeline, using: backup) {
                    case .window(let w):
                        windows.append(RestorableWindowEntry(timeline: w.timeline.rawValue, from: w.from.postgresText,
                                                             until: w.until.postgresText, backup: w.backup))
                        break candidates
                    case .needsDetail(let names):
                        for name in names { inventory.details[name] = try await loader.completions(in: name, facts: facts) }
                        planner = RecoveryPlanner(backups: backups, inventory: inventory)
                    case .none:
                        continue candidates
                    }
                }
            }
        }
        return windows
    }
}
