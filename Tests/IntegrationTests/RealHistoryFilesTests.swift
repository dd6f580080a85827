import Foundation
import Testing
import TidemarkTesting

/// `wal-push` parses `.backup` and `.history` files: the ones a real PostgreSQL 15 writes must
/// still be archived (exit 0, byte for byte), and a junk history of an unrelated timeline in
/// the repository must not block a plan on timeline 1 (issue 10, item 3).
extension PostgreSQLIntegration {
    @Suite("Real history files", .tags(.large, .walArchive))
    struct RealHistoryFilesTests {
        @Test(.timeLimit(.minutes(5)))
        func theFilesPostgreSQLWritesAreArchivedAndJunkIsOnlyANote() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-it-history-files")
            defer { cluster.stop() }
            let server = cluster.server
            try await server.psql("create table t (id int); insert into t values (1)")
            let (backup, _) = try await cluster.backup("full")

            // A low-level backup makes the server write and archive <segment>.<offset>.backup.
            try await server.psql("select pg_backup_start('tidemark-test', true); select lsn from pg_backup_stop(false)")
            let backupFiles = try FileManager.default.contentsOfDirectory(atPath: server.walDirectory).filter { $0.hasSuffix(".backup") }
            let backupFile = try #require(backupFiles.sorted().last, "pg_wal holds no .backup file: \(backupFiles)")
            try await server.waitUntilArchived(try await server.switchWAL())
            let status = try await server.archiverStatus()
            #expect(status.failedCount == 0, "wal-push refused a file PostgreSQL wrote: \(status)\n\(server.serverLog())")
            try await expectArchived(backupFile, from: server.walDirectory, runner: cluster.tidemark, scratch: cluster.scratch)

            // A copy of the repository, so that the promoted copy's timeline 2 stays out of the
            // original (and `--latest` there stays on timeline 1).
            let copy = cluster.scratch.child("repository-copy")
            let cp = try await ChildProcess.run(Command("/bin/cp", ["-a", cluster.repository.directory, copy], timeout: .seconds(60)))
            try #require(cp.succeeded, "\(cp)")
            let copied = cluster.tidemark.with(environment: ["BACKUP_DIR": copy])
            let data = cluster.scratch.child("promoted")
            let restore = try await ChildProcess.run(copied.command(
                ["restore", "--to", data, "--backup", backup.id, "--target-immediate", "--target-action", "promote"]))
            try #require(restore.exitCode == 0, "\(restore)")
            let promoted = try await RestoredServer(
                dataDirectory: data, socketDirectory: try cluster.makeServerDirectory("promoted-socket"),
                logFile: cluster.scratch.child("promoted.log"), binDirectory: server.binDirectory, user: cluster.user,
                environment: server.environment.merging(["BACKUP_DIR": copy]) { $1 },
                archiveCommand: ShellQuoting.quote(cluster.binary.path) + " wal-push %p")
            defer { promoted.stop() }
            // The promotion wrote 00000002.history; the archiver pushes it first.
            let history = copy + "/main/wal/history/00000002.history"
            let deadline = ContinuousClock.now + .seconds(60)
            var archiver = ""
            while !FileManager.default.fileExists(atPath: history), ContinuousClock.now < deadline {
                archiver = try await promoted.psql("select failed_count || ' ' || coalesce(last_failed_wal, '-') from pg_stat_archiver")
                if !archiver.hasPrefix("0 ") { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            archiver = try await promoted.psql("select failed_count || ' ' || coalesce(last_failed_wal, '-') from pg_stat_archiver")
            #expect(archiver == "0 -", "wal-push refused the promoted server's files: \(archiver)\n\(promoted.log())")
            try #require(FileManager.default.fileExists(atPath: history), "00000002.history was not archived:\n\(promoted.log())")
            try await expectArchived("00000002.history", from: data + "/pg_wal", runner: copied, scratch: cluster.scratch)

            // Junk cannot come in through wal-push any more...
            let junk = cluster.scratch.child("00000007.history")
            try FileManager.default.writeFile(junk, Data("garbage\n".utf8), mode: 0o644, owner: cluster.user)
            let refused = try await cluster.tidemark.run("wal-push", junk)
            #expect(refused.exitCode == 9, "\(refused)")
            // ...but one archived by an older version, or damaged at rest, may be there: raw
            // garbage, and an envelope that authenticates but holds no history (a catalog).
            let histories = cluster.repository.directory + "/main/wal/history/"
            if !FileManager.default.fileExists(atPath: histories) {
                try FileManager.default.makeDirectory(histories, mode: 0o700, owner: cluster.user)
            }
            try FileManager.default.writeFile(histories + "00000009.history", Data("garbage\n".utf8), mode: 0o600, owner: cluster.user)
            let catalog = try FileManager.default.readFile(cluster.repository.directory + "/main/backup/" + backup.id + "/catalog")
            try FileManager.default.writeFile(histories + "00000008.history", catalog, mode: 0o600, owner: cluster.user)

            let (code, view, result) = try await cluster.plan(["--latest"])
            #expect(code == 0, "an unrelated damaged history blocks the plan: \(result)")
            #expect(view?.timeline == 1, "\(result.stdoutText)")
            let text = try await cluster.tidemark.run("plan", "--latest")
            #expect(text.exitCode == 0, "\(text)")
            for name in ["00000008.history", "00000009.history"] {
                #expect(text.stdoutText.split(separator: "\n").contains { $0.contains("note") && $0.contains(name) },
                        "the plan notes \(name): \(text.stdoutText)")
            }
            // Asking for the damaged timeline itself is refused as corrupt, naming the file.
            let asked = try await cluster.tidemark.run("plan", "--latest", "--target-timeline", "9")
            #expect(asked.exitCode == 8, "\(asked)")
            #expect(asked.stderrText.contains("00000009.history"), "\(asked.stderrText)")
        }

        /// `wal-fetch <name>` from the repository returns exactly the file in `directory`.
        func expectArchived(_ name: String, from directory: String, runner: TidemarkRunner, scratch: ScratchDirectory,
                            sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let destination = scratch.child("fetched-" + name)
            let fetch = try await runner.run("wal-fetch", name, destination)
            try #require(fetch.exitCode == 0, "\(name) is not in the archive: \(fetch)", sourceLocation: sourceLocation)
            #expect(try FileManager.default.readFile(destination) == FileManager.default.readFile(directory + "/" + name),
                    "the archived \(name) differs from the server's", sourceLocation: sourceLocation)
        }
    }
}
