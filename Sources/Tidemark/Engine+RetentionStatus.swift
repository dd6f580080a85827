#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCore
import TidemarkPolicy
import TidemarkRepository
import TidemarkRetention

/// What today's policy does to each backup of a stanza, as `list` and `info` show it
/// (docs/list-json.md, docs/info.md): the same plan `expire --dry-run` makes, without asking
/// the store about object locks.
public struct RetentionStatus: Codable, Sendable {
    public var policy: RetentionPolicy
    /// Why the next expire would delete nothing (failing backups), or null.
    public var hold: String?
    public var windowStart: String?
    public var windowEnd: String?
    public var backups: [ExpireBackup]
    /// Per timeline, the instants recovery can reach now, judged from which objects exist.
    public var restorable: [ExpireWindow]
    /// Backups the next `tidemark expire` deletes.
    public var toDelete: Int
}

extension Engine {
    /// Retention's view of `stanza` in `repository`, or nil with the reason it could not be made.
    package func retentionStatus(_ repository: Repository, named name: String, stanza: String,
                                 summaries: [CatalogSummary]? = nil) async -> (RetentionStatus?, String?) {
        let policy = configuration.retention[name] ?? .default
        let run = ExpireRun(name: name, repository: repository, stanza: stanza, policy: policy,
                            now: Int64(now().timeIntervalSince1970.rounded(.down)), asOf: nil)
        do {
            let state = try await run.read(writingIndex: false, summaries: summaries)
            let plan = Retention.evaluate(policy, run.retentionInput(state))
            let facts = Dictionary(state.summaries.map { ($0.id.rawValue, $0) }, uniquingKeysWith: { a, _ in a })
            let backups = plan.decisions.map { ExpireBackup($0, facts: facts[$0.id]) }
            return (RetentionStatus(policy: policy, hold: plan.hold,
                                    windowStart: plan.windowStart.map { PostgresTimestamp(unixSeconds: $0).iso8601 },
                                    windowEnd: plan.windowEnd.map { PostgresTimestamp(unixSeconds: $0).iso8601 },
                                    backups: backups, restorable: plan.windowsBefore.map(ExpireWindow.init),
                                    toDelete: backups.filter { !$0.keep }.count), nil)
        } catch {
            return (nil, TidemarkError.wrap(error, doing: "apply the retention policy to stanza '\(stanza)' in repository '\(name)'").message)
        }
    }
}
