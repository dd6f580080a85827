import Foundation
import Testing
import TidemarkTesting

/// Damage at rest that the read-only commands must report as corrupt (exit 8, naming the
/// object), through the real binary against objects a real PostgreSQL 15 produced (issue 10,
/// items 5 and 6).
extension PostgreSQLIntegration {
    @Suite("Damaged repository objects", .tags(.large))
    struct RepositoryDamageTests {
        /// A truncated WAL object that recovery needs makes `plan` fail naming it, whether a few
        /// bytes or exactly the final frame (the trailer) are cut off; the plan's text says only
        /// what it checked.
        @Test(.timeLimit(.minutes(5)))
        func planRefusesATruncatedWALObject() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-it-truncated")
            defer { cluster.stop() }
            try await cluster.server.psql("create table t (id int); insert into t values (1)")
            try await cluster.backup("full")
            try await cluster.server.psql("insert into t values (2)")
            try await cluster.server.waitUntilArchived(try await cluster.server.switchWAL())

            let (code, view, result) = try await cluster.plan(["--latest"])
            try #require(code == 0, "\(result)")
            let segments = try #require(view?.segments, "\(result.stdoutText)")
            let name = try #require(segments.last)
            let text = try await cluster.tidemark.run("plan", "--latest")
            #expect(text.exitCode == 0, "\(text)")
            #expect(!text.stdoutText.contains("every file recovery needs is in the archive"), "\(text.stdoutText)")
            #expect(text.stdoutText.contains("every segment recovery needs is in the archive at full length, with an authenticated end"),
                    "\(text.stdoutText)")

            // <repository>/<stanza>/wal/<TTTTTTTTLLLLLLLL>/<segment> (docs/format.md).
            let object = cluster.repository.directory + "/main/wal/" + name.prefix(16) + "/" + name
            let whole = try FileManager.default.readFile(object)
            // The final frame: 5-byte frame header, 48-byte sealed trailer, 16-byte tag (docs/format.md).
            let finalFrame = 5 + 48 + 16
            try #require(whole.count > 4096 + finalFrame, "\(object) is \(whole.count) bytes")
            for cut in [100, finalFrame, 1] {
                try FileManager.default.writeFile(object, whole.prefix(whole.count - cut), mode: 0o600, owner: cluster.user)
                let damaged = try await cluster.tidemark.run("plan", "--latest")
                #expect(damaged.exitCode == 8, "cut \(cut) bytes: \(damaged)")
                #expect(damaged.stderrText.contains(name) && damaged.stderrText.contains("truncated"),
                        "cut \(cut) bytes: the message names the object: \(damaged.stderrText)")
                #expect(damaged.stderrText.contains("HINT:"), "\(damaged.stderrText)")
                #expect(!damaged.stdoutText.contains("every segment recovery needs"), "no plan is printed: \(damaged.stdoutText)")
            }
            // Put back whole, the same object passes again: the check judged the bytes, not the name.
            try FileManager.default.writeFile(object, whole, mode: 0o600, owner: cluster.user)
            let again = try await cluster.tidemark.run("plan", "--latest")
            #expect(again.exitCode == 0, "\(again)")
        }

        /// A catalog object copied over another backup's authenticates (same key), so `list`,
        /// `plan` and `restore` must notice it describes the other backup: corrupt (8), both
        /// ids named, nothing restored.
        @Test(.timeLimit(.minutes(5)))
        func aCatalogCopiedFromAnotherBackupIsCorrupt() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-it-copied-catalog")
            defer { cluster.stop() }
            try await cluster.server.psql("create table t (id int); insert into t values (1)")
            let (a, _) = try await cluster.backup("full")
            try await cluster.server.psql("insert into t values (2)")
            let (b, _) = try await cluster.backup("full")
            try await cluster.server.waitUntilArchived(try await cluster.server.switchWAL())

            let backups = cluster.repository.directory + "/main/backup/"
            let copied = try FileManager.default.readFile(backups + a.id + "/catalog")
            try FileManager.default.writeFile(backups + b.id + "/catalog", copied, mode: 0o600, owner: cluster.user)

            let target = cluster.scratch.child("restored")
            let runs: [(String, [String])] = [
                ("list", ["list"]),
                ("list --json", ["list", "--json"]),
                ("plan", ["plan", "--latest"]),
                ("restore", ["restore", "--to", target, "--backup", b.id, "--target-immediate"]),
            ]
            for (what, arguments) in runs {
                let result = try await ChildProcess.run(cluster.tidemark.command(arguments))
                #expect(result.exitCode == 8, "\(what): \(result)")
                #expect(result.stderrText.contains(a.id) && result.stderrText.contains(b.id),
                        "\(what) names both backups: \(result.stderrText)")
                #expect(result.stderrText.contains("copied"), "\(what): \(result.stderrText)")
            }
            let written = (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? []
            #expect(written.isEmpty, "restore wrote nothing: \(written)")
        }
    }
}
