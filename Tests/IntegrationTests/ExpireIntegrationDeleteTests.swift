import Foundation
import Testing
import TidemarkTesting

extension PostgreSQLIntegration {
    /// `tidemark delete`, `pin` and `unpin` against a real repository, with the small policy.
    @Suite("Expire: delete, pin, unpin", .tags(.large))
    struct ExpireIntegrationDeleteTests {
        @Test("delete refuses a backup others depend on, --cascade deletes the chain; a pin keeps a backup and its parents until unpin",
              .timeLimit(.minutes(10)))
        func deleteAndPin() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-it-expire-delete", configuration: ["track_commit_timestamp = on"])
            defer { cluster.stop() }
            let server = cluster.server
            try await server.psql("create table pitr (id int primary key, note text)")
            var chain: [(full: String, incremental: String)] = []
            var rowsAt: [String: [Int]] = [:]
            for round in 0..<3 {
                _ = try await cluster.commitRows([round * 10 + 1])
                let full = try await cluster.backup("full").0.id
                _ = try await cluster.commitRows([round * 10 + 2])
                _ = try await server.switchWAL()
                let incremental = try await cluster.backup("incremental").0.id
                rowsAt[incremental] = try await cluster.currentRows()
                chain.append((full, incremental))
            }
            _ = try await cluster.commitRows([90])
            try await cluster.archiveEverything()
            let (c, c1) = chain[0], (a, a1) = chain[1], (b, b1) = (chain[2].full, chain[2].incremental)
            let tidemark = cluster.expiring
            let repoRoot = cluster.repository.directory
            func listed() async throws -> [String] { try await cluster.list().backups.map(\.id).sorted() }

            // A full with an incremental on it: refused, naming the incremental.
            let refused = try await tidemark.run("delete", "--backup", a)
            #expect(refused.exitCode == 9 && refused.stderrText.contains(a1), "delete --backup \(a): \(refused)")
            // The newest backup is the PITR window's anchor.
            let anchor = try await tidemark.run("delete", "--backup", b1)
            #expect(anchor.exitCode == 9 && anchor.stderrText.contains("PITR window"), "delete --backup \(b1): \(anchor)")

            // --cascade --dry-run: both listed, nothing written.
            let before = try RepositorySnapshot(of: repoRoot)
            let preview = try await tidemark.run("delete", "--backup", a, "--cascade", "--dry-run", "--json")
            try #require(preview.exitCode == 0, "delete --cascade --dry-run: \(preview)")
            let planned = try JSONDecoder().decode(DeleteJSONView.self, from: preview.stdout)
            #expect(planned.dryRun && planned.repositories.count == 1 && Set(planned.repositories.first?.deleted ?? []) == [a, a1],
                    "\(preview.stdoutText)")
            let afterPreview = try RepositorySnapshot(of: repoRoot)
            #expect(before == afterPreview, "delete --dry-run changed the repository: \(before.differences(to: afterPreview))")

            // --cascade: both gone, their directories too; what it says it freed is what went.
            let cascade = try await tidemark.run("delete", "--backup", a, "--cascade", "--json")
            try #require(cascade.exitCode == 0, "delete --cascade: \(cascade)")
            let deleted = try JSONDecoder().decode(DeleteJSONView.self, from: cascade.stdout)
            #expect(Set(deleted.repositories.first?.deleted ?? []) == [a, a1], "\(cascade.stdoutText)")
            let afterDelete = try RepositorySnapshot(of: repoRoot)
            let backupFiles = { (s: RepositorySnapshot) in s.files.filter { $0.hasPrefix("main/backup/") } }
            let gone = backupFiles(afterPreview).subtracting(backupFiles(afterDelete))
            #expect(gone.allSatisfy { $0.hasPrefix("main/backup/\(a)/") || $0.hasPrefix("main/backup/\(a1)/") } && gone.count == deleted.repositories.first?.objectsDeleted,
                    "delete removed \(gone.sorted()); it says \(String(describing: deleted.repositories.first))")
            #expect(afterPreview.fileBytes { $0.hasPrefix("main/backup/") } - afterDelete.fileBytes { $0.hasPrefix("main/backup/") }
                    == deleted.repositories.first?.bytesFreed)
            #expect(afterDelete.entries["main/backup/\(a)"] == nil && afterDelete.entries["main/backup/\(a1)"] == nil)
            #expect(try await listed() == [b, b1, c, c1].sorted())

            // A pin keeps the oldest incremental, and its parent, through expire.
            let pin = try await tidemark.run("pin", c1, "--reason", "legal hold")
            #expect(pin.exitCode == 0 && pin.stdoutText.contains(c1), "pin \(c1): \(pin)")
            let (code, kept, run) = try await cluster.expire()
            try #require(code == 0, "expire with a pin: \(run)")
            let report = try #require(kept?.repositories.first)
            #expect(report.backup(c1)?.keep == true && report.backup(c1)?.reasons.contains("pinned: legal hold") == true,
                    "\(c1): \(String(describing: report.backup(c1)))")
            #expect(report.backup(c)?.keep == true && report.backup(c)?.reasons == ["parent of \(c1)"], "\(c): \(String(describing: report.backup(c)))")
            #expect(report.backupsDeleted == 0, "\(run.stdoutText)")
            #expect(try await listed() == [b, b1, c, c1].sorted())
            #expect(try await cluster.restoredRows(of: c1, name: "pinned") == rowsAt[c1], "the pinned backup restores exactly")
            let pinned = try await tidemark.run("delete", "--backup", c1)
            #expect(pinned.exitCode == 9 && pinned.stderrText.contains("pinned"), "delete of a pinned backup: \(pinned)")
            let pinnedChild = try await tidemark.run("delete", "--backup", c, "--cascade")
            #expect(pinnedChild.exitCode == 9 && pinnedChild.stderrText.contains("pinned"), "delete --cascade onto a pinned backup: \(pinnedChild)")
            #expect(try await listed() == [b, b1, c, c1].sorted())

            // unpin: the next expire deletes them.
            let unpin = try await tidemark.run("unpin", c1)
            #expect(unpin.exitCode == 0, "unpin \(c1): \(unpin)")
            let (code2, expired, run2) = try await cluster.expire()
            #expect(code2 == 0 && expired?.repositories.first?.backupsDeleted == 2, "expire after unpin: \(run2)")
            #expect(try await listed() == [b, b1].sorted())
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: repoRoot + "/main/pins")) ?? []).isEmpty, "no pin is left")
        }
    }
}
