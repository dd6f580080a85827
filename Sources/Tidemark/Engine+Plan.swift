#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup

/// A plan and where it came from.
public struct PlanReport: Sendable {
    public var plan: RecoveryPlan
    /// The repository the plan reads from.
    public var repository: String
    public var catalog: BackupCatalog
    public var segmentsInArchive: Int
    public var summariesRead: Int
    /// Segments read in full to find the exact stop record.
    public var segmentsScanned: Int
    public var seconds: Double
    /// Set when the plan came from a repository other than the first (the ones before it could
    /// not be used): recovery must read only from it, because a repository that cannot answer
    /// makes wal-fetch stop recovery (it cannot confirm a file is absent), and this one was
    /// proved to hold every file recovery needs.
    public var readsOnlyFrom: String?
}

/// The archive of one stanza in one repository, as the planner sees it.
extension Engine {
    /// `tidemark plan`: the recovery plan for `request`, proven against the archive, from the
    /// first repository that can answer. A repository that cannot be opened or read, or holds
    /// no backups, is passed over (`report` says so); an unreachable target is final when it
    /// comes from a repository that holds backups.
    public func plan(request: PlanRequest,
                            report: @escaping @Sendable (String) -> Void = { _ in }) async throws -> PlanReport {
        var sequence = PlanSequence(engine: self, request: request, report: report)
        guard let (plan, _) = try await sequence.next() else {
            throw TidemarkError(.notFound, "no repository holds backups of stanza '\(configuration.stanza)'")
        }
        logger.debug("plan done", metadata: ["plan.summary": "\(plan.summaryLine)"])
        return plan
    }

    /// The plan from one repository.
    package func plan(in repo: Repository, named name: String, request: PlanRequest) async throws -> PlanReport? {
        let started = ContinuousClock.now
        let backups = BackupStore(repository: repo, stanza: configuration.stanza)
        let catalogs = try await backups.catalogs()
        guard let info = try await repo.stanzaInfo(configuration.stanza), !catalogs.isEmpty else { return nil }
        guard let size = WALSegmentSize(rawValue: info.walSegmentSize) else {
            throw TidemarkError(.corrupt, "stanza '\(configuration.stanza)' records an impossible WAL segment size \(info.walSegmentSize)")
        }
        let loader = WALInventoryLoader(repository: repo, stanza: configuration.stanza, size: size)
        var (inventory, facts) = try await loader.load()
        let planner = catalogs.map(Self.plannerBackup)
        var scanned = 0
        while true {
            switch RecoveryPlanner(backups: planner, inventory: inventory).plan(request) {
            case .plan(let plan):
                guard let catalog = catalogs.first(where: { $0.id.rawValue == plan.backup.id }) else {
                    throw TidemarkError(.corrupt, "the planner chose backup \(plan.backup.id), which has no catalog")
                }
                // The summaries say what each segment holds, not that it is whole.
                try await loader.checkWhole(plan.segments)
                let elapsed = ContinuousClock.now - started
                return PlanReport(plan: plan, repository: name, catalog: catalog,
                                  segmentsInArchive: inventory.segments.values.reduce(0) { $0 + $1.count },
                                  summariesRead: facts.count, segmentsScanned: scanned,
                                  seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            case .needsDetail(let names):
                for name in names {
                    inventory.details[name] = try await loader.completions(in: name, facts: facts)
                    scanned += 1
                }
            case .unreachable(let u):
                var error = TidemarkError(u.reason == .historyDamaged ? .corrupt : .unreachable, "target not reachable: " + u.message,
                                          hints: u.alternatives.map { "reachable instead: " + $0 })
                error.unreachable = u
                throw error
            }
        }
    }

    package static func plannerBackup(_ c: BackupCatalog) -> PlannerBackup {
        PlannerBackup(id: c.id.rawValue, timeline: TimelineID(c.timeline), startLSN: c.startLSN, stopLSN: c.stopLSN,
                      startTime: try? PostgresTimestamp(parsing: c.startTime), stopTime: try? PostgresTimestamp(parsing: c.stopTime))
    }
}

/// Plans from the configured repositories in order, passing over those that cannot answer.
package struct PlanSequence {
    package let engine: Engine
    package let request: PlanRequest
    package let report: @Sendable (String) -> Void
    package var index = 0
    package var lastError: TidemarkError?
    package var configuration: Configuration { engine.configuration }

    package init(engine: Engine, request: PlanRequest, report: @escaping @Sendable (String) -> Void) {
        self.engine = engine
        self.request = request
        self.report = report
    }

    /// The next repository's plan with the repository itself, or nil when none is left
    /// (`lastError` then says why the last one failed).
    package mutating func next() async throws -> (PlanReport, Repository)? {
        let specs = configuration.repositories
        while index < specs.count {
            let spec = specs[index]
            index += 1
            let more = index < specs.count ? "; trying '\(specs[index].name)'" : ""
            do {
                let passphrase = try configuration.requireKey()
                let repo = try await engine.open(spec, passphrase: passphrase)
                guard let plan = try await engine.plan(in: repo, named: spec.name, request: request) else {
                    lastError = TidemarkError(.notFound, "stanza '\(configuration.stanza)' has no backups in repository '\(spec.name)'",
                                              hints: ["take one: tidemark backup"])
                    if !more.isEmpty { report("tidemark: repository '\(spec.name)' holds no backups of stanza '\(configuration.stanza)'\(more)") }
                    continue
                }
                var found = plan
                if spec.name != specs.first?.name { found.readsOnlyFrom = spec.name }
                return (found, repo)
            } catch let e as TidemarkError where e.code == .unreachable || e.code == .configuration || e.code == .wrongKey {
                throw e
            } catch {
                let e = TidemarkError.wrap(error, doing: "plan from repository '\(spec.name)'")
                lastError = e
                if more.isEmpty { throw e }
                report("tidemark: repository '\(spec.name)' cannot be used (\(e.message))\(more)")
            }
        }
        if let lastError { throw lastError }
        return nil
    }
}
