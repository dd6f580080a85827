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
        let repository: Repository
        do {
            guard let first = try await openRepositories(configuration).first else { throw TidemarkError(.configuration, "no repository") }
            repository = first
            results.append(.pass("repository \(first.store.location) opens with the configured key"))
        } catch let e as TidemarkError {
            results.append(.fail("repository", e.message, fix: e.hints.first ?? "see docs/configuration.md"))
            return results
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
            if let stanza = try await repository.stanzaInfo(configuration.stanza), stanza.systemIdentifier != facts.systemIdentifier {
                results.append(.fail("stanza '\(configuration.stanza)'", "holds cluster \(stanza.systemIdentifier), the server is \(facts.systemIdentifier)",
                                     fix: "use a stanza of its own for this cluster (--stanza)"))
            } else {
                results.append(.pass("stanza '\(configuration.stanza)' matches system identifier \(facts.systemIdentifier)"))
            }
            // Force a segment switch and watch it arrive.
            let rows = try await connection.simpleQuery("SELECT pg_walfile_name(pg_switch_wal())")
            guard let name = rows.first?.first ?? nil, let file = WALFileName(name) else {
                throw TidemarkError(.io, "pg_switch_wal() returned no segment name")
            }
            let archive = WALArchive(repository: repository, stanza: configuration.stanza, compression: configuration.compression)
            let key = RepositoryLayout.wal(configuration.stanza, file)
            let deadline = ContinuousClock.now + .seconds(configuration.archiveTimeoutSeconds)
            var arrived = false
            while ContinuousClock.now < deadline {
                if try await archive.objectExists(key) { arrived = true; break }
                try await Task.sleep(for: .milliseconds(250))
            }
            results.append(arrived ? .pass("WAL segment \(name) arrived in the repository after a switch")
                           : .fail("WAL archiving", "segment \(name) did not reach the repository within \(Int(configuration.archiveTimeoutSeconds)) s",
                                   fix: "look at pg_stat_archiver.last_failed_wal and the server log; archive_command must use this BACKUP_DIR/config and key"))
        } catch let e as ReplicationError {
            results.append(.fail("server", e.message, fix: "see the server log"))
        } catch let e as TidemarkError {
            results.append(.fail("server", e.message, fix: e.hints.first ?? "see the server log"))
        }
        return results
    }
}
