#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PostgresReplication
import TidemarkCore

/// One line of `tidemark check`.
public struct CheckResult: Sendable {
    public var what: String
    public var ok: Bool
    public var problem: String?
    public var fix: String?

    static func pass(_ what: String) -> CheckResult { CheckResult(what: what, ok: true) }
    static func fail(_ what: String, _ problem: String, fix: String) -> CheckResult {
        CheckResult(what: what, ok: false, problem: problem, fix: fix)
    }
}

extension Engine {
    /// `tidemark check`: connection, settings, repository identity, and a WAL switch that must
    /// arrive in the repository within `archiveTimeoutSeconds`.
    public static func check(_ configuration: Configuration) async throws -> [CheckResult] {
        var results: [CheckResult] = []
        var opened: [(RepositorySpec, Repository)] = []
        let passphrase: Secret
        do {
            passphrase = try configuration.requireKey()
        } catch let e as TidemarkError {
            results.append(.fail("repository", e.message, fix: e.hints.first ?? "see docs/configuration.md"))
            return results
        }
        let several = configuration.repositories.count > 1
        for spec in configuration.repositories {
            let what = several ? "repository '\(spec.name)'" : "repository"
            do {
                let repo = try await open(spec, configuration: configuration, passphrase: passphrase)
                opened.append((spec, repo))
                results.append(.pass("\(what) \(spec.location) opens with the configured key"))
            } catch {
                let e = TidemarkError.wrap(error, doing: "open repository '\(spec.name)'")
                results.append(.fail(what, e.message, fix: e.hints.first ?? "see docs/configuration.md"))
            }
        }
        guard !opened.isEmpty else { return results }
        if let alerts = try? await outstandingAlerts(configuration, repositories: opened, removeResolved: true), !alerts.isEmpty {
            let byRepository = Dictionary(grouping: alerts, by: \.repository)
            for (name, missed) in byRepository.sorted(by: { $0.key < $1.key }) {
                let files = missed.map(\.file)
                results.append(.fail("repository '\(name)'", "misses \(files.count) WAL file(s) that wal-push could not store there: \(files.prefix(5).joined(separator: ", "))\(files.count > 5 ? ", ..." : "")",
                                     fix: "fix the repository (the ALERT lines in the server log say why), then copy the files over: tidemark wal-fetch from another repository and wal-push again; `tidemark info` lists them all"))
            }
        }
        let connection: ReplicationConnection
        do {
            connection = try await connect(configuration)
            results.append(.pass("replication connection to \(connection.target) (role has REPLICATION)"))
        } catch let e as TidemarkError {
            results.append(.fail("replication connection", e.message, fix: e.hints.last ?? "check postgres.conninfo / PG* variables"))
            return results
        }
        defer { connection.close() }
        func setting(_ name: String) async -> String? { try? await connection.show(name) }

        let walLevel = await setting("wal_level") ?? "?"
        results.append(walLevel == "replica" || walLevel == "logical" ? .pass("wal_level = \(walLevel)")
                       : .fail("wal_level", "is '\(walLevel)'", fix: "wal_level = replica in postgresql.conf (restart)"))
        let archiveMode = await setting("archive_mode") ?? "?"
        results.append(archiveMode == "on" || archiveMode == "always" ? .pass("archive_mode = \(archiveMode)")
                       : .fail("archive_mode", "is '\(archiveMode)'", fix: "archive_mode = on in postgresql.conf (restart)"))
        let command = await setting("archive_command") ?? ""
        let library = await setting("archive_library") ?? ""
        if !library.isEmpty {
            results.append(.fail("archive_command", "archive_library = '\(library)' overrides archive_command",
                                 fix: "archive_library = '' and archive_command = 'tidemark wal-push %p'"))
        } else if !(command.contains("tidemark") && command.contains("wal-push") && command.contains("%p")) {
            results.append(.fail("archive_command", "is '\(command)', which does not call tidemark wal-push %p",
                                 fix: "archive_command = 'tidemark wal-push %p' (reload)"))
        } else if configuration.stanza != "main" && !command.contains(configuration.stanza) && !command.contains("--config") {
            results.append(.fail("archive_command", "does not name stanza '\(configuration.stanza)'",
                                 fix: "archive_command = 'tidemark --stanza \(configuration.stanza) wal-push %p'"))
        } else {
            results.append(.pass("archive_command calls Tidemark: \(command)"))
        }
        let senders = Int(await setting("max_wal_senders") ?? "0") ?? 0
        results.append(senders >= 2 ? .pass("max_wal_senders = \(senders)")
                       : .fail("max_wal_senders", "is \(senders); a backup needs one sender", fix: "max_wal_senders = 10 (restart)"))
        do {
            let (facts, _) = try await serverFacts(connection)
            for (spec, repository) in opened {
                let whose = several ? " in repository '\(spec.name)'" : ""
                if let stanza = try await repository.stanzaInfo(configuration.stanza), stanza.systemIdentifier != facts.systemIdentifier {
                    results.append(.fail("stanza '\(configuration.stanza)'\(whose)", "holds cluster \(stanza.systemIdentifier), the server is \(facts.systemIdentifier)",
                                         fix: "use a stanza of its own for this cluster (--stanza)"))
                } else {
                    results.append(.pass("stanza '\(configuration.stanza)'\(whose) matches system identifier \(facts.systemIdentifier)"))
                }
            }
            // Force a segment switch and watch it arrive in every repository that opened.
            let rows = try await connection.simpleQuery("SELECT pg_walfile_name(pg_switch_wal())")
            guard let name = rows.first?.first ?? nil, let file = WALFileName(name) else {
                throw TidemarkError(.io, "pg_switch_wal() returned no segment name")
            }
            let key = RepositoryLayout.wal(configuration.stanza, file)
            let deadline = ContinuousClock.now + .seconds(configuration.archiveTimeoutSeconds)
            for (spec, repository) in opened {
                let archive = archive(repository, spec: spec, configuration: configuration)
                var arrived = false
                while true {
                    if try await archive.objectExists(key) { arrived = true; break }
                    if ContinuousClock.now >= deadline { break }
                    try await Task.sleep(for: .milliseconds(250))
                }
                let target = several ? "repository '\(spec.name)'" : "the repository"
                results.append(arrived ? .pass("WAL segment \(name) arrived in \(target) after a switch")
                               : .fail("WAL archiving", "segment \(name) did not reach \(target) within \(Int(configuration.archiveTimeoutSeconds)) s",
                                       fix: "look at pg_stat_archiver.last_failed_wal and the server log; archive_command must use this BACKUP_DIR/config and key"))
            }
        } catch let e as ReplicationError {
            results.append(.fail("server", e.message, fix: "see the server log"))
        } catch let e as TidemarkError {
            results.append(.fail("server", e.message, fix: e.hints.first ?? "see the server log"))
        }
        return results
    }
}
