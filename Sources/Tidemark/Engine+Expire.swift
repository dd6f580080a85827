#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Crypto
import TidemarkArchive
import TidemarkFiles
import TidemarkCodec
import TidemarkCore
import TidemarkPolicy
import TidemarkRepository
import TidemarkStorage
import TidemarkRetention

/// How `tidemark expire` runs.
public struct ExpireOptions: Sendable {
    /// Plan only: nothing is written, not even the lock.
    public var dryRun: Bool
    /// Only this repository (else every configured one, each with its own policy).
    public var repository: String?
    /// Evaluate the policy at this instant (`--as-of`).
    public var asOf: Date?
    /// Run only if the repositories still produce exactly the plan of this hash (`--apply`).
    public var apply: String?

    public init(dryRun: Bool = false, repository: String? = nil, asOf: Date? = nil, apply: String? = nil) {
        self.dryRun = dryRun
        self.repository = repository
        self.asOf = asOf
        self.apply = apply
    }
}

extension Engine {
    /// `tidemark expire`: per repository, the retention plan (docs/retention.md), then, unless
    /// `dryRun`, its execution under the stanza lock. A repository that cannot be read is
    /// reported with its error and the others still run; `failures` then carries the error.
    public func expire(_ options: ExpireOptions) async throws -> (ExpireReport, failures: [TidemarkError]) {
        let passphrase = try configuration.requireKey()
        let separate = configuration.files.separateRepository
        let specs: [RepositorySpec]
        if let name = options.repository, name == separate?.name {
            specs = []
        } else {
            specs = try options.repository.map { [try configuration.repository(named: $0)] } ?? configuration.repositories
        }
        let nowSeconds = Int64(now().timeIntervalSince1970.rounded(.down))
        let asOf = options.asOf.map { Int64($0.timeIntervalSince1970.rounded(.down)) }
        var failures: [TidemarkError] = []
        var reports: [ExpireRepositoryReport] = []
        var runs: [(Int, ExpireRun)] = []
        var filesRuns: [(Int, FilesExpireRun)] = []
        for spec in specs {
            let policy = configuration.retention[spec.name] ?? .default
            var report = ExpireRepositoryReport(repository: spec.name, location: spec.location, policy: policy)
            do {
                let repo = try await open(spec, passphrase: passphrase)
                runs.append((reports.count, ExpireRun(name: spec.name, repository: repo, stanza: configuration.stanza, policy: policy,
                                                      now: nowSeconds, asOf: asOf)))
                if separate == nil {
                    filesRuns.append((reports.count, FilesExpireRun(name: spec.name, repository: repo, stanza: configuration.stanza,
                                                                    policy: policy, now: nowSeconds, asOf: asOf)))
                }
            } catch {
                let e = TidemarkError.wrap(error, doing: "open repository '\(spec.name)'")
                report.error = e.message
                failures.append(e.inRequiredRepository(spec.name))
            }
            reports.append(report)
        }
        if let separate, options.repository == nil || options.repository == separate.name {
            let policy = configuration.retention[separate.name] ?? .default
            var report = ExpireRepositoryReport(repository: separate.name, location: separate.location, policy: policy)
            do {
                let repo = try await openFilesRepository(separate, passphrase: passphrase)
                filesRuns.append((reports.count, FilesExpireRun(name: separate.name, repository: repo, stanza: configuration.stanza,
                                                                policy: policy, now: nowSeconds, asOf: asOf)))
            } catch {
                let e = TidemarkError.wrap(error, doing: "open the file backup repository '\(separate.name)'")
                report.error = e.message
                failures.append(e.inRequiredRepository(separate.name))
            }
            reports.append(report)
        }
        // Which database backups are kept decides which file snapshots are: repositories not
        // expired this time (`--repo`) are planned too, read-only, when file snapshots are.
        var references: [ExpireRun] = []
        var unopened: [String] = []
        var holdsFiles = false
        for (_, run) in filesRuns where !holdsFiles { holdsFiles = (try? await run.holdsFileBackups()) ?? true }
        if holdsFiles {
            for spec in configuration.repositories where !specs.contains(spec) {
                do {
                    references.append(ExpireRun(name: spec.name, repository: try await open(spec, passphrase: passphrase), stanza: configuration.stanza,
                                                policy: configuration.retention[spec.name] ?? .default, now: nowSeconds, asOf: asOf))
                } catch {
                    unopened.append(spec.name)
                }
            }
        }
        try await requireStanza(command: "expire", mayStartFirst: false)
        var leases: [Lease] = []
        if !options.dryRun {
            do {
                for (_, run) in runs { leases.append(try await stanzaLock(in: run.repository).acquire(command: "expire")) }
                for (_, run) in filesRuns where !runs.contains(where: { $0.1.repository.store.location == run.repository.store.location }) {
                    leases.append(try await stanzaLock(in: run.repository).acquire(command: "expire"))
                }
            } catch {
                for lease in leases { await lease.release() }
                throw error
            }
        }
        let keeper = LeaseKeeper(leases) { _, _ in }
        let result: Result<String, any Error>
        do {
            result = .success(try await expire(runs, filesRuns, references: references, unopened: unopened, leases: leases,
                                               reports: &reports, options: options, failures: &failures))
        } catch {
            result = .failure(error)
        }
        await keeper.stop()
        for lease in leases { await lease.release() }
        let hash = try result.get()
        let report = ExpireReport(dryRun: options.dryRun, asOf: asOf.map { PostgresTimestamp(unixSeconds: $0).iso8601 },
                                  planHash: hash, repositories: reports)
        return (report, failures)
    }

    private func expire(_ runs: [(Int, ExpireRun)], _ filesRuns: [(Int, FilesExpireRun)], references: [ExpireRun], unopened: [String],
                        leases: [Lease], reports: inout [ExpireRepositoryReport], options: ExpireOptions,
                        failures: inout [TidemarkError]) async throws -> String {
        var planned: [(Int, ExpireRun, ExpireRun.State, ExpireRun.Plan)] = []
        var unplanned = unopened
        var referencePlans: [RetentionPlan] = []
        for run in references {
            do { referencePlans.append(try await run.plan(try await run.read(writingIndex: false)).retention) } catch { unplanned.append(run.name) }
        }
        for (index, run) in runs {
            do {
                let state = try await run.read(writingIndex: !options.dryRun)
                planned.append((index, run, state, try await run.plan(state)))
            } catch {
                let e = TidemarkError.wrap(error, doing: "plan expiry in repository '\(run.name)'")
                reports[index].error = e.message
                failures.append(e.inRequiredRepository(run.name))
                unplanned.append(run.name)
            }
        }
        let filesPlanned = await planFiles(filesRuns, database: planned.map(\.3.retention) + referencePlans, unplanned: unplanned,
                                           reports: &reports, failures: &failures)
        let hash = Self.combinedHash(planned.map(\.3.hash) + filesPlanned.map(\.hash))
        if let wanted = options.apply, wanted != hash {
            throw TidemarkError(.conflict, "the repositories no longer produce plan \(wanted): they now produce plan \(hash); nothing was deleted",
                                hints: ["run `tidemark expire --dry-run` again, check its plan, and apply the new hash"])
        }
        for (index, run, state, plan) in planned {
            var report = reports[index]
            report.fill(run: run, state: state, plan: plan)
            if !options.dryRun, let lease = leases.first(where: { $0.lock.store.location == run.store.location }) {
                do {
                    let resumed = try await run.resume(state.pending, lease: lease)
                    let outcome = plan.retention.hold == nil ? try await run.execute(plan, lease: lease, command: "expire") : .init()
                    report.backupsDeleted = outcome.backupsDeleted
                    report.segmentsDeleted = outcome.segmentsDeleted
                    report.objectsDeleted = resumed.objectsDeleted + outcome.objectsDeleted
                    report.bytesFreed = resumed.bytesFreed + outcome.bytesFreed
                } catch {
                    let e = TidemarkError.wrap(error, doing: "expire in repository '\(run.name)'")
                    report.error = e.message
                    failures.append(e.inRequiredRepository(run.name))
                }
            }
            reports[index] = report
        }
        await executeFiles(filesPlanned, leases: leases, reports: &reports, dryRun: options.dryRun, failures: &failures)
        return hash
    }

    static func combinedHash(_ hashes: [String]) -> String {
        String(hexString(SHA256.hash(data: Array(hashes.joined(separator: "\n").utf8))).prefix(16))
    }
}
