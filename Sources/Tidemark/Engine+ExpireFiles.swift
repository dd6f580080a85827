import Crypto
import TidemarkCodec
import TidemarkCore
import TidemarkFiles
import TidemarkPolicy
import TidemarkRepository
import TidemarkRetention

/// The file-backup half of `tidemark expire` (docs/retention.md, "File snapshots"): each
/// repository that holds file backups keeps the snapshots its policy names and those taken
/// with a database backup this run keeps, in any repository; then its packs are pruned.
extension Engine {
    struct PlannedFiles {
        var index: Int
        var run: FilesExpireRun
        var state: FilesExpireRun.State
        var plan: FilesRetention.Plan
        var hash: String
    }

    /// `database`: every repository's database plan. When one of them could not be planned
    /// (`unplanned`), nobody knows which database backups it keeps, so no file snapshot is
    /// deleted anywhere (the files part of each report says why).
    func planFiles(_ runs: [(Int, FilesExpireRun)], database: [RetentionPlan], unplanned: [String],
                   reports: inout [ExpireRepositoryReport], failures: inout [TidemarkError]) async -> [PlannedFiles] {
        var kept = Set<String>()
        for plan in database { for d in plan.decisions where d.keep { kept.insert(d.id) } }
        let windowStart = database.compactMap(\.windowStart).min()
        var out: [PlannedFiles] = []
        for (index, run) in runs {
            do {
                guard let state = try await run.read() else { continue }
                var plan = run.plan(state, keptDatabaseBackups: kept, windowStart: windowStart)
                if !unplanned.isEmpty, plan.hold == nil {
                    let why = "repository \(unplanned.map { "'\($0)'" }.joined(separator: ", ")) could not be planned, so the database backups file snapshots belong to are not known: no file snapshot is deleted"
                    plan = FilesRetention.Plan(decisions: plan.decisions.map { .init(id: $0.id, keep: true, reasons: $0.keep ? $0.reasons : [why]) },
                                               hold: why)
                }
                reports[index].files = ExpireFilesReport(snapshots: state.snapshots, plan: plan)
                let text = "tidemark expire files plan 1\nrepository \(run.name)\n" + FilesExpireRun.hashText(plan)
                out.append(PlannedFiles(index: index, run: run, state: state, plan: plan,
                                        hash: String(hexString(SHA256.hash(data: Array(text.utf8))).prefix(16))))
            } catch {
                let e = TidemarkError.wrap(error, doing: "plan the expiry of file snapshots in repository '\(run.name)'")
                var files = ExpireFilesReport(snapshots: [], plan: FilesRetention.Plan(decisions: [], hold: nil))
                files.error = e.message
                reports[index].files = files
                failures.append(e.inRequiredRepository(run.name))
            }
        }
        return out
    }

    /// Deletes the dropped snapshots and prunes the packs (a dry run computes the pruning only).
    func executeFiles(_ planned: [PlannedFiles], leases: [Lease], reports: inout [ExpireRepositoryReport], dryRun: Bool,
                      failures: inout [TidemarkError]) async {
        for p in planned {
            let lease = leases.first { $0.lock.store.location == p.run.repository.store.location }
            if !dryRun, lease == nil { continue }
            do {
                let outcome = try await p.run.execute(p.plan, state: p.state, lease: lease, dryRun: dryRun)
                reports[p.index].files?.fill(outcome, dryRun: dryRun)
            } catch {
                let e = TidemarkError.wrap(error, doing: "expire file snapshots in repository '\(p.run.name)'")
                reports[p.index].files?.error = e.message
                failures.append(e.inRequiredRepository(p.run.name))
            }
        }
    }
}
