import Foundation
import Testing
import TidemarkTesting

/// `list --json` and `info --json` with the fields multi-repository setups add, decoded
/// independently of the engine's types.
struct MultiListJSON: Decodable {
    struct Entry: Decodable {
        var id: String
        var type: String
        var repository: String
    }

    struct Repository: Decodable {
        var name: String
        var required: Bool
        var backups: Int
        var error: String?
    }

    var backups: [Entry]
    var repositories: [Repository]
}

struct MultiInfoJSON: Decodable {
    struct Repository: Decodable {
        var name: String
        var path: String
        var type: String
        var required: Bool
        var error: String?
    }

    struct Stanza: Decodable {
        var name: String
        var repository: String
        var wal: InfoJSON.WAL
    }

    struct Alert: Decodable {
        var repository: String
        var file: String
        var error: String
    }

    var repository: Repository
    var repositories: [Repository]
    var stanzas: [Stanza]
    var alerts: [Alert]
}

/// Two repository directories and a config file naming them, all owned by the server user.
struct TwoRepositoryFixture {
    let local: String
    let second: String
    let configFile: String
    let tidemark: TidemarkRunner

    init(scratch: ScratchDirectory, binary: TidemarkBinary, user: SystemUser?, secondRequired: Bool) throws {
        let repository = try RepositoryFixture.create(in: scratch, name: "local", owner: user)
        local = repository.directory
        second = scratch.child("second")
        try FileManager.default.makeDirectory(second, mode: 0o700, owner: user)
        configFile = scratch.child("tidemark.json")
        let json = """
            {"repositories": [{"name": "local", "type": "posix", "path": "\(local)"},
                              {"name": "second", "type": "posix", "path": "\(second)", "required": \(secondRequired)}],
             "encryptionKeyFile": "\(repository.keyFile)", "archiveTimeoutSeconds": 120}
            """
        try FileManager.default.writeFile(configFile, Data(json.utf8), mode: 0o600, owner: user)
        tidemark = TidemarkRunner(binary: binary, environment: ["TIDEMARK_CONFIG": configFile], user: user, timeout: .seconds(300))
    }

    func server(binary: TidemarkBinary) async throws -> PostgresFixture {
        try await PostgresFixture(
            PostgresFixture.Options(
                configuration: [
                    "archive_mode = on",
                    "archive_command = " + ShellQuoting.configString(ShellQuoting.quote(binary.path) + " wal-push %p"),
                    "wal_level = replica",
                    "max_wal_senders = 5",
                    "max_wal_size = '256MB'",
                    "wal_keep_size = '1GB'",
                ],
                environment: ["TIDEMARK_CONFIG": configFile]))
    }
}

extension PostgreSQLIntegration {
    @Suite("Several repositories", .tags(.walArchive))
    struct MultiRepositoryIntegrationTests {
        @Test("two required repositories: archive and back up into both, then fetch every segment from the second once the first is gone",
              .timeLimit(.minutes(15)))
        func twoRequiredRepositoriesAndFallback() async throws {
            let user = try SystemUser.serverUser()
            let scratch = try ScratchDirectory(prefix: "tidemark-it-multi", mode: 0o755, owner: user)
            let binary = try TidemarkBinary.install()
            let repos = try TwoRepositoryFixture(scratch: scratch, binary: binary, user: user, secondRequired: true)
            let initRun = try await repos.tidemark.run("init")
            try #require(initRun.exitCode == 0, "tidemark init: \(initRun)")
            #expect(initRun.stdoutText.contains("'local'") && initRun.stdoutText.contains("'second'"), "\(initRun.stdoutText)")

            let server = try await repos.server(binary: binary)
            defer { server.stop() }
            let tidemark = repos.tidemark.with(environment: [
                "PGHOST": server.socketDirectory, "PGPORT": String(server.port), "PGUSER": "postgres", "PGDATABASE": "postgres",
            ])
            try await server.pgbench(["-i", "-q", "-s", "5"])
            try await server.pgbench(["-c", "2", "-j", "2", "-T", "3"])
            _ = try await server.waitUntilArchived(try await server.switchWAL(), timeout: .seconds(300))

            let backup = try await tidemark.run("backup", "--type", "full")
            try #require(backup.exitCode == 0, "tidemark backup: \(backup)\n\(server.serverLog())")
            #expect(backup.stdoutText.contains("stored in repositories: local, second"), "\(backup.stdoutText)")
            try await server.pgbench(["-c", "2", "-j", "2", "-T", "3", "-n"])
            let status = try await server.waitUntilArchived(try await server.switchWAL(), timeout: .seconds(300))
            #expect(status.failedCount == 0, "archive_command failed: \(status)\n\(server.serverLog())")

            // list --json: the backup in both repositories under one id.
            let listRun = try await tidemark.run("list", "--json")
            try #require(listRun.exitCode == 0, "\(listRun)")
            let list = try JSONDecoder().decode(MultiListJSON.self, from: listRun.stdout)
            #expect(list.backups.count == 2, "\(listRun.stdoutText)")
            #expect(Set(list.backups.map(\.id)).count == 1, "one id for both copies: \(list.backups.map(\.id))")
            #expect(list.backups.map(\.repository) == ["local", "second"])
            #expect(list.repositories.map(\.name) == ["local", "second"] && list.repositories.allSatisfy { $0.backups == 1 && $0.error == nil })

            // info --json: both repositories, each with the WAL.
            let infoRun = try await tidemark.run("info", "--json")
            try #require(infoRun.exitCode == 0, "\(infoRun)")
            let info = try JSONDecoder().decode(MultiInfoJSON.self, from: infoRun.stdout)
            #expect(info.repository.name == "local")
            #expect(info.repositories.map(\.name) == ["local", "second"] && info.repositories.allSatisfy { $0.required && $0.error == nil })
            let walLocal = try #require(info.stanzas.first { $0.repository == "local" && $0.name == "main" }?.wal)
            let walSecond = try #require(info.stanzas.first { $0.repository == "second" && $0.name == "main" }?.wal)
            #expect(walLocal.segments == walSecond.segments && walLocal.segments >= 3, "\(walLocal.segments) vs \(walSecond.segments)")
            #expect(info.alerts.isEmpty)
            let timeline = try #require(walSecond.timelines.first)
            let archived = try WALNames.range(from: timeline.first, through: timeline.last)

            // The first repository disappears: every segment still comes back, from the second.
            try FileManager.default.removeItem(atPath: repos.local)
            let fetched = scratch.child("fetched")
            try FileManager.default.makeDirectory(fetched, mode: 0o700, owner: user)
            let inPGWAL = Set(try server.archivedSegmentsInWALDirectory())
            var compared = 0
            for name in archived {
                let destination = fetched + "/" + name
                let fetch = try await tidemark.run("wal-fetch", name, destination)
                #expect(fetch.exitCode == 0, "wal-fetch \(name) after the first repository is gone: \(fetch)")
                #expect(fetch.stderrText.contains("could not be read from 'local'") && fetch.stderrText.contains("trying 'second'"),
                        "the fallback must be said: \(fetch.stderrText)")
                guard fetch.exitCode == 0 else { continue }
                if inPGWAL.contains(name), try expectSameBytes(destination, server.walDirectory + "/" + name, "segment \(name)") {
                    compared += 1
                }
                try FileManager.default.removeItem(atPath: destination)
            }
            #expect(compared >= 3, "only \(compared) segments compared byte for byte")
            // Not archived anywhere, but the first repository cannot confirm it: recovery must stop.
            let beyond = try WALNames.next(after: timeline.last)
            let unsure = try await tidemark.run("wal-fetch", try WALNames.next(after: beyond), fetched + "/x")
            #expect(unsure.exitCode >= 126, "absence cannot be confirmed with a repository gone: \(unsure)")
            #expect(!FileManager.default.fileExists(atPath: fetched + "/x"))
            // list still answers and says what is wrong with the first, but a required
            // repository it cannot read fails it (issue 10, item 6): exit 5, naming it.
            let after = try await tidemark.run("list", "--json")
            try #require(after.exitCode == 5, "\(after)")
            #expect(after.stderrText.contains("required repository 'local' is unavailable"), "\(after.stderrText)")
            let afterList = try JSONDecoder().decode(MultiListJSON.self, from: after.stdout)
            #expect(afterList.backups.map(\.repository) == ["second"])
            #expect(afterList.repositories.first?.error != nil)

            // Restore from the second repository alone: it says so, recovery reads only from it,
            // and the restored cluster holds exactly the server's rows.
            let target = scratch.child("restored")
            let restore = try await tidemark.run("restore", "--to", target, "--target-action", "promote")
            try #require(restore.exitCode == 0, "restore with the first repository gone: \(restore)")
            #expect(restore.stderrText.contains("repository 'local' cannot be used") && restore.stderrText.contains("trying 'second'"),
                    "the fallback must be said: \(restore.stderrText)")
            let autoConf = try String(contentsOfFile: target + "/postgresql.auto.conf", encoding: .utf8)
            #expect(autoConf.contains("wal-fetch --repo second"), "restore_command reads only from 'second': \(autoConf)")
            let socket = scratch.child("restored-socket")
            try FileManager.default.makeDirectory(socket, mode: 0o700, owner: user)
            let restored = try await RestoredServer(
                dataDirectory: target, socketDirectory: socket, logFile: scratch.child("restored.log"),
                binDirectory: server.binDirectory, user: user, environment: server.environment)
            defer { restored.stop() }
            let tables = ["pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history"]
            let original = try await rowDigests(tables) { try await server.psql($0) }
            let copy = try await rowDigests(tables) { try await restored.psql($0) }
            #expect(copy == original, "restored from 'second' alone: \(copy) vs \(original)")
        }

        @Test("an optional repository that cannot be written: archiving goes on, the misses are recorded and reported",
              .timeLimit(.minutes(10)))
        func optionalRepositoryUnwritable() async throws {
            let user = try SystemUser.serverUser()
            let scratch = try ScratchDirectory(prefix: "tidemark-it-multi-opt", mode: 0o755, owner: user)
            let binary = try TidemarkBinary.install()
            let repos = try TwoRepositoryFixture(scratch: scratch, binary: binary, user: user, secondRequired: false)
            let initRun = try await repos.tidemark.run("init")
            try #require(initRun.exitCode == 0, "tidemark init: \(initRun)")
            // The server user (archive_command, and this runner) can no longer enter it.
            try FileManager.default.setMode(repos.second, 0o000)
            defer { try? FileManager.default.setMode(repos.second, 0o700) }

            let server = try await repos.server(binary: binary)
            defer { server.stop() }
            try await server.pgbench(["-i", "-q", "-s", "2"])
            var last = try await server.switchWAL()
            var status = try await server.waitUntilArchived(last, timeout: .seconds(300))
            last = try await server.switchWAL()
            status = try await server.waitUntilArchived(last, timeout: .seconds(120))
            #expect(status.failedCount == 0, "an optional repository must not fail archiving: \(status)\n\(server.serverLog())")
            #expect(status.archivedCount >= 2)
            #expect(server.serverLog(limit: 200_000).contains("tidemark: ALERT: optional repository 'second'"),
                    "the ALERT belongs in the server log:\n\(server.serverLog())")

            let recorded = (try? FileManager.default.contentsOfDirectory(atPath: repos.local + "/main/alerts/second")) ?? []
            #expect(recorded.contains(last + ".json"), "no alert record for \(last): \(recorded)")

            let infoRun = try await repos.tidemark.run("info", "--json")
            try #require(infoRun.exitCode == 0, "info with an optional repository down: \(infoRun)")
            let info = try JSONDecoder().decode(MultiInfoJSON.self, from: infoRun.stdout)
            #expect(info.repositories.last?.name == "second" && info.repositories.last?.error != nil, "\(infoRun.stdoutText)")
            #expect(info.alerts.contains { $0.repository == "second" && $0.file == last }, "\(info.alerts.map(\.file))")
            #expect(info.alerts.count >= 2)
        }
    }
}
