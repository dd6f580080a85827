#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PostgresReplication
import TidemarkCore
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCodec
import TidemarkStorage

/// One line of `tidemark check` (and one object of `check --json`, docs/check-json.md).
public struct CheckResult: Sendable {
    public enum Status: String, Sendable, Codable {
        case ok, failed, warning
    }

    /// A stable identifier: `key`, `repository`, `repository:NAME`, `alerts:NAME`, `connection`,
    /// `wal_level`, `archive_mode`, `archive_command`, `max_wal_senders`, `stanza`,
    /// `stanza:NAME`, `archiving`, `archiving:NAME`, `server`, `spool`.
    public var name: String
    /// What was checked, as the text output names it.
    public var what: String
    public var status: Status
    /// ok: what holds; failed / warning: what is wrong.
    public var message: String
    /// What to do (failed / warning).
    public var hint: String?
    /// For a failure: the error code `check` exits with when it is the first one.
    public var code: TidemarkError.Code?

    public var ok: Bool { status != .failed }

    package static func pass(_ name: String, _ message: String) -> CheckResult {
        CheckResult(name: name, what: message, status: .ok, message: message)
    }
    package static func fail(_ name: String, _ what: String, _ problem: String, fix: String, code: TidemarkError.Code = .configuration) -> CheckResult {
        CheckResult(name: name, what: what, status: .failed, message: problem, hint: fix, code: code)
    }
    package static func warn(_ name: String, _ what: String, _ problem: String, fix: String) -> CheckResult {
        CheckResult(name: name, what: what, status: .warning, message: problem, hint: fix)
    }
}

extension [CheckResult] {
    /// failed when any check failed, else warning when any warned, else ok.
    public var overallStatus: CheckResult.Status {
        if contains(where: { $0.status == .failed }) { return .failed }
        return contains(where: { $0.status == .warning }) ? .warning : .ok
    }
}

extension Engine {
    /// `tidemark check`: connection, settings, repository identity, a WAL switch that must
    /// arrive in the repository within `archiveTimeoutSeconds`, and stale prefetch spools.
    public func check() async throws -> [CheckResult] {
        var results: [CheckResult] = []
        var opened: [(RepositorySpec, Repository)] = []
        let passphrase: Secret
        do {
            passphrase = try configuration.requireKey()
        } catch let e as TidemarkError {
            results.append(.fail("key", "repository", e.message, fix: e.hints.first ?? "see docs/configuration.md", code: e.code))
            return results
        }
        if let weakness = PassphraseRule.weakness(of: passphrase.bytes) {
            results.append(.warn("key", "encryption key", "the configured key (\(configuration.keySource)) \(weakness)",
                                 fix: "\(KeyPolicy.generateHint), then: tidemark key change --new-key-file /etc/tidemark/key (docs/keys.md)"))
        }
        let several = configuration.repositories.count > 1
        for spec in configuration.repositories {
            let what = several ? "repository '\(spec.name)'" : "repository"
            let name = several ? "repository:\(spec.name)" : "repository"
            do {
                let repo = try await open(spec, passphrase: passphrase)
                opened.append((spec, repo))
                results.append(.pass(name, "\(what) \(spec.location) opens with the configured key"))
            } catch {
                let e = TidemarkError.wrap(error, doing: "open repository '\(spec.name)'")
                results.append(.fail(name, what, e.message, fix: e.hints.first ?? "see docs/configuration.md", code: e.code))
            }
        }
        guard !opened.isEmpty else { return results }
        if let (_, first) = opened.first, let cost = await keyCostResult(first, passphrase: passphrase) { results.append(cost) }
        if let alerts = try? await outstandingAlerts(repositories: opened, removeResolved: true), !alerts.isEmpty {
            let byRepository = Dictionary(grouping: alerts, by: \.repository)
            for (name, missed) in byRepository.sorted(by: { $0.key < $1.key }) {
                let files = missed.map(\.file)
                results.append(.fail("alerts:\(name)", "repository '\(name)'", "misses \(files.count) WAL file(s) that wal-push could not store there: \(files.prefix(5).joined(separator: ", "))\(files.count > 5 ? ", ..." : "")",
                                     fix: "fix the repository (the ALERT lines in the server log say why), then copy the files over: tidemark wal-fetch from another repository and wal-push again; `tidemark info` lists them all",
                                     code: .repository))
            }
        }
        let connection: ReplicationConnection
        do {
            connection = try await connect()
            results.append(.pass("connection", "replication connection to \(connection.target) (role has REPLICATION)"))
        } catch let e as TidemarkError {
            results.append(.fail("connection", "replication connection", e.message, fix: e.hints.last ?? "check postgres.conninfo / PG* variables",
                                 code: e.code))
            results += staleSpoolResults(dataDirectory: nil)
            return results
        }
        defer { connection.close() }
        let role = CheckGrants.role(inTarget: connection.target)
        func setting(_ name: String) async -> String? { try? await connection.show(name) }

        let walLevel = await setting("wal_level") ?? "?"
        results.append(walLevel == "replica" || walLevel == "logical" ? .pass("wal_level", "wal_level = \(walLevel)")
                       : .fail("wal_level", "wal_level", "is '\(walLevel)'", fix: "wal_level = replica in postgresql.conf (restart)"))
        let archiveMode = await setting("archive_mode") ?? "?"
        results.append(archiveMode == "on" || archiveMode == "always" ? .pass("archive_mode", "archive_mode = \(archiveMode)")
                       : .fail("archive_mode", "archive_mode", "is '\(archiveMode)'", fix: "archive_mode = on in postgresql.conf (restart)"))
        let command = await setting("archive_command") ?? ""
        let library = await setting("archive_library") ?? ""
        if !library.isEmpty {
            results.append(.fail("archive_command", "archive_command", "archive_library = '\(library)' overrides archive_command",
                                 fix: "archive_library = '' and archive_command = 'tidemark wal-push %p'"))
        } else if !(command.contains("tidemark") && command.contains("wal-push") && command.contains("%p")) {
            results.append(.fail("archive_command", "archive_command", "is '\(command)', which does not call tidemark wal-push %p",
                                 fix: "archive_command = 'tidemark wal-push %p' (reload)"))
        } else if configuration.stanza != "main" && !command.contains(configuration.stanza) && !command.contains("--config") {
            results.append(.fail("archive_command", "archive_command", "does not name stanza '\(configuration.stanza)'",
                                 fix: "archive_command = 'tidemark --stanza \(configuration.stanza) wal-push %p'"))
        } else {
            results.append(.pass("archive_command", "archive_command calls Tidemark: \(command)"))
        }
        let senders = Int(await setting("max_wal_senders") ?? "0") ?? 0
        results.append(senders >= 2 ? .pass("max_wal_senders", "max_wal_senders = \(senders)")
                       : .fail("max_wal_senders", "max_wal_senders", "is \(senders); a backup needs one sender", fix: "max_wal_senders = 10 (restart)"))
        do {
            let (facts, _) = try await Self.serverFacts(connection)
            for (spec, repository) in opened {
                let whose = several ? " in repository '\(spec.name)'" : ""
                let name = several ? "stanza:\(spec.name)" : "stanza"
                if let stanza = try await repository.stanzaInfo(configuration.stanza), stanza.systemIdentifier != facts.systemIdentifier {
                    results.append(.fail(name, "stanza '\(configuration.stanza)'\(whose)", "holds cluster \(stanza.systemIdentifier), the server is \(facts.systemIdentifier)",
                                         fix: "use a stanza of its own for this cluster (--stanza)", code: .conflict))
                } else {
                    results.append(.pass(name, "stanza '\(configuration.stanza)'\(whose) matches system identifier \(facts.systemIdentifier)"))
                }
            }
            // Force a segment switch and watch it arrive in every repository that opened.
            let rows: [[String?]]
            do {
                rows = try await connection.simpleQuery("SELECT pg_walfile_name(pg_switch_wal())")
            } catch let e as ReplicationError where e.sqlState == CheckGrants.insufficientPrivilege {
                results.append(.fail(several ? "archiving:\(configuration.repositories[0].name)" : "archiving", "WAL archiving",
                                     "unable to force a WAL switch: \(e.message)",
                                     fix: CheckGrants.hint(for: e.message, role: role), code: .configuration))
                results += staleSpoolResults(dataDirectory: await setting("data_directory"))
                return results
            }
            guard let name = rows.first?.first ?? nil, let file = WALFileName(name) else {
                throw TidemarkError(.io, "pg_switch_wal() returned no segment name")
            }
            let key = RepositoryLayout.wal(configuration.stanza, file)
            let deadline = ContinuousClock.now + .seconds(configuration.archiveTimeoutSeconds)
            for (spec, repository) in opened {
                let archive = archive(repository, spec: spec)
                var arrived = false
                while true {
                    if try await archive.objectExists(key) { arrived = true; break }
                    if ContinuousClock.now >= deadline { break }
                    try await Task.sleep(for: .milliseconds(250))
                }
                let target = several ? "repository '\(spec.name)'" : "the repository"
                let id = several ? "archiving:\(spec.name)" : "archiving"
                results.append(arrived ? .pass(id, "WAL segment \(name) arrived in \(target) after a switch")
                               : .fail(id, "WAL archiving", "segment \(name) did not reach \(target) within \(Int(configuration.archiveTimeoutSeconds)) s",
                                       fix: "look at pg_stat_archiver.last_failed_wal and the server log; archive_command must use this BACKUP_DIR/config and key"))
            }
        } catch let e as ReplicationError {
            let fix = e.sqlState == CheckGrants.insufficientPrivilege ? CheckGrants.hint(for: e.message, role: role) : "see the server log"
            results.append(.fail("server", "server", e.message, fix: fix, code: e.sqlState == CheckGrants.insufficientPrivilege ? .configuration : .io))
        } catch let e as TidemarkError {
            results.append(.fail("server", "server", e.message, fix: e.hints.first ?? "see the server log", code: e.code))
        }
        results += staleSpoolResults(dataDirectory: await setting("data_directory"))
        return results
    }

    /// One warning per stale prefetch spool (`PrefetchSpool.staleSpools`), with the command that
    /// removes it. `dataDirectory` is the server's (SHOW data_directory; nil when the role may
    /// not read it or the directory is on another host).
    package func staleSpoolResults(dataDirectory: String?) -> [CheckResult] {
        PrefetchSpool.staleSpools(tempDirectory: configuration.tempDirectory, dataDirectory: dataDirectory,
                                  configured: configuration.spoolPath).map { stale in
            .warn("spool", "prefetch spool \(stale.path)", "holds decrypted WAL and is stale: \(stale.reason)",
                  fix: "no recovery uses it: remove it as its owner with rm -rf -- \(RecoveryConfig.shellWord(stale.path))")
        }
    }
}
