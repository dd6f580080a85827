#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCore
import TidemarkPolicy
import TidemarkRepository
import TidemarkStorage
import TidemarkRetention

/// `tidemark delete --json` (docs/expire-json.md, "delete").
public struct DeleteReport: Codable, Sendable {
    public var backup: String
    public var dryRun: Bool
    public var repositories: [Repository]

    public struct Repository: Codable, Sendable {
        public var repository: String
        /// The backups deleted (or, with --dry-run, to be deleted): the backup and, with
        /// --cascade, its dependents, newest first.
        public var deleted: [String]
        public var objectsDeleted: Int
        public var bytesFreed: Int64
    }
}

extension Engine {
    /// `tidemark delete --backup ID`: removes one backup (and with `cascade` the backups built on
    /// it) from every repository holding it, or only `repository`. Refuses, naming them, a backup
    /// others depend on (without `cascade`), one the PITR window needs and a pinned one. WAL
    /// stays (expire removes what no backup needs).
    public func delete(backup text: String, dryRun: Bool, cascade: Bool, repository only: String? = nil) async throws -> DeleteReport {
        guard let id = BackupID(rawValue: text) else {
            throw TidemarkError(.invalidInput, "'\(text)' is not a backup id", hints: ["backup ids look like 20261126-153000F; `tidemark list` shows them"])
        }
        let passphrase = try configuration.requireKey()
        let specs = try only.map { [try configuration.repository(named: $0)] } ?? configuration.repositories
        let nowSeconds = Int64(now().timeIntervalSince1970.rounded(.down))
        var report = DeleteReport(backup: id.rawValue, dryRun: dryRun, repositories: [])
        try await requireStanza(command: "delete", mayStartFirst: false)
        for spec in specs {
            let repo = try await open(spec, passphrase: passphrase)
            let run = ExpireRun(name: spec.name, repository: repo, stanza: configuration.stanza,
                                policy: configuration.retention[spec.name] ?? .default, now: nowSeconds, asOf: nil)
            let work: @Sendable (Lease?) async throws -> DeleteReport.Repository? = { lease in
                let state = try await run.read(writingIndex: lease != nil)
                guard state.summaries.contains(where: { $0.id == id }) else { return nil }
                let doomed = try Self.deletable(id, cascade: cascade, state: state, run: run, repository: spec.name)
                var entry = DeleteReport.Repository(repository: spec.name, deleted: doomed.map(\.rawValue), objectsDeleted: 0, bytesFreed: 0)
                for d in doomed {
                    let objects = try await run.backups.objects(of: d)
                    entry.objectsDeleted += objects.count
                    entry.bytesFreed += objects.reduce(0) { $0 + $1.size }
                }
                guard let lease else { return entry }
                let started = PostgresTimestamp(unixSeconds: nowSeconds).iso8601
                for d in doomed {
                    try lease.checkHeld()
                    try await run.backups.markForDeletion(DeletionMarker(id: d, command: "delete", startedAt: started))
                }
                for d in doomed {
                    try lease.checkHeld()
                    _ = try await run.call("delete backup '\(d)'") { try await run.backups.finishDeletion(d) }
                }
                return entry
            }
            let entry = dryRun ? try await work(nil) : try await stanzaLock(in: repo).withLease(command: "delete") { try await work($0) }
            if let entry { report.repositories.append(entry) }
        }
        guard !report.repositories.isEmpty else {
            throw TidemarkError(.notFound, "backup '\(id)' does not exist in stanza '\(configuration.stanza)'",
                                hints: ["`tidemark list` shows the backups"])
        }
        return report
    }

    /// `id` and, with `cascade`, every backup built on it, newest first; throws `.invalidInput`
    /// naming what forbids it.
    static func deletable(_ id: BackupID, cascade: Bool, state: ExpireRun.State, run: ExpireRun, repository: String) throws -> [BackupID] {
        var dependents: [BackupID] = []
        var frontier = [id]
        while let next = frontier.popLast() {
            let children = state.summaries.filter { $0.parent == next }.map(\.id)
            dependents += children
            frontier += children
        }
        if !dependents.isEmpty && !cascade {
            throw TidemarkError(.invalidInput, "backup \(id) cannot be deleted: \(dependents.map(\.rawValue).sorted().joined(separator: ", ")) \(dependents.count == 1 ? "depends" : "depend") on it",
                                hints: ["`tidemark delete --backup \(id) --cascade` deletes them too (run it with --dry-run first)"])
        }
        let doomed = [id] + dependents
        // Judged as if backups were current: the failing-backups hold does not lift the window's protection.
        var input = run.retentionInput(state)
        input.now = state.summaries.map(\.endTime).max() ?? input.now
        let plan = Retention.evaluate(run.policy, input)
        for d in doomed {
            if let pin = state.pins[d] {
                throw TidemarkError(.invalidInput, "backup \(d) is pinned\(pin.reason.isEmpty ? "" : " (\(pin.reason))") in repository '\(repository)': it is not deleted",
                                    hints: ["`tidemark unpin \(d)` first if the hold has ended"])
            }
            if plan.pitrAnchors.contains(d.rawValue) {
                let window = plan.windowStart.map { " (from \(PostgresTimestamp(unixSeconds: $0).iso8601))" } ?? ""
                throw TidemarkError(.invalidInput, "backup \(d) is needed by the PITR window\(window) of repository '\(repository)': without it some instants of the last \(run.policy.pitrDays) days could not be restored",
                                    hints: ["shorten retention.pitrDays if that window is no longer wanted, then run `tidemark expire`"])
            }
        }
        return doomed.sorted(by: >)
    }
}
