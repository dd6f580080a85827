import TidemarkCore
import TidemarkRepository
import TidemarkVerify

/// How `tidemark verify` runs.
public struct VerifyCommandOptions: Sendable {
    public var run: VerifyOptions
    /// Only this repository (else every configured one).
    public var repository: String?
    /// Copy what a repository lacks or holds damaged from another one (`--repair`).
    public var repair: Bool

    public init(run: VerifyOptions = VerifyOptions(), repository: String? = nil, repair: Bool = false) {
        self.run = run
        self.repository = repository
        self.repair = repair
    }
}

extension Engine {
    /// `tidemark verify` (docs/verify.md): every configured repository (or `--repo`), each on its
    /// own; a repository that cannot be opened is reported as unreadable and the others still
    /// run. With `repair`, each repository with problems takes its stanza lock, gets copies
    /// from the others, and is verified again.
    /// `failures`: the errors of repositories that could not be verified at all (their own
    /// codes: 4 wrong key, 5 missing, 7 I/O), required ones first.
    public func verify(_ options: VerifyCommandOptions) async throws -> (VerifyReport, failures: [TidemarkError]) {
        let passphrase = try configuration.requireKey()
        let specs = try options.repository.map { [try configuration.repository(named: $0)] } ?? configuration.repositories
        // verify writes its ledger into the stanza, --repair its lock: neither for a stanza that exists nowhere.
        try await requireStanza(command: options.repair ? "verify --repair" : "verify",
                                mayStartFirst: false)
        let now = Int64(now().timeIntervalSince1970.rounded(.down))
        var opened: [(spec: RepositorySpec, repository: Repository)] = []
        var reports: [VerifyRepositoryReport] = []
        var failures: [TidemarkError] = []
        for spec in specs {
            var report = VerifyRepositoryReport(name: spec.name, location: spec.location, stanza: configuration.stanza,
                                                required: spec.required, scope: options.run.scope.name)
            do {
                let repository = try await open(spec, passphrase: passphrase)
                try await VerifyRun(repository: repository, stanza: configuration.stanza, options: options.run, now: now).run(into: &report)
                opened.append((spec, repository))
            } catch {
                let e = TidemarkError.wrap(error, doing: "verify repository '\(spec.name)'")
                if spec.required { failures.insert(e.inRequiredRepository(spec.name), at: 0) } else { failures.append(e) }
                report.status = "unreadable"
                report.problems.append(VerifyProblem(.unreadable, object: spec.location, e.message, hint: e.hints.first ?? "fix the repository, then run verify again"))
            }
            reports.append(report)
        }
        guard options.repair else { return (VerifyReport(repositories: reports), failures) }
        // Sources may be any configured repository, also one outside `--repo`.
        for spec in configuration.repositories where !opened.contains(where: { $0.spec.name == spec.name }) {
            if let repository = try? await open(spec, passphrase: passphrase) { opened.append((spec, repository)) }
        }
        for (i, report) in reports.enumerated() where report.status == "problems" {
            guard let target = opened.first(where: { $0.spec.name == report.name }) else { continue }
            let lease = try await stanzaLock(in: target.repository).acquire(command: "verify --repair")
            let keeper = LeaseKeeper([lease]) { _, _ in }
            let identity = (try? await target.repository.stanzaInfo(configuration.stanza)) ?? nil
            let size = identity.flatMap { WALSegmentSize(rawValue: $0.walSegmentSize) }
            let repair = VerifyRepair(target: target.repository, sources: opened.filter { $0.spec.name != report.name }.map { ($0.spec.name, $0.repository) },
                                      stanza: configuration.stanza)
            let wanted = VerifyRepair.wanted(report, stanza: configuration.stanza, segmentSize: size) + (await repair.alerted(name: report.name))
            let (repaired, failed) = await repair.repair(wanted)
            await repair.clearAlerts(name: report.name, repaired: repaired)
            var again = VerifyRepositoryReport(name: report.name, location: report.location, stanza: report.stanza,
                                               required: report.required, scope: report.scope)
            do {
                try await VerifyRun(repository: target.repository, stanza: configuration.stanza, options: options.run, now: now).run(into: &again)
            } catch {
                again.status = "unreadable"
                again.problems.append(VerifyProblem(.unreadable, object: report.location, "\(error)", hint: "fix the repository, then run verify again"))
            }
            await keeper.stop()
            await lease.release()
            again.repaired = repaired
            if !again.problems.isEmpty {
                // What could not be copied says why, beside what the second run still finds.
                again.problems += failed.filter { f in !again.problems.contains { $0.object == f.object } }
            }
            reports[i] = again
        }
        return (VerifyReport(repositories: reports), failures)
    }
}
