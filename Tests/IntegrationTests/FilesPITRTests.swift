import Foundation
import Testing
import TidemarkCore
import TidemarkTesting

extension PostgreSQLIntegration {
    /// The database and the files restored to one instant (docs/files.md, "Consistency with the
    /// database"): rows name uploaded files; `restore --target-time T` and
    /// `files restore --as-of T` agree — every file a restored row names is there with the bytes
    /// the row recorded, and the snapshot is the one `plan` names. The snapshots carry the WAL
    /// positions around them.
    @Suite("Files: restored with the database to one time")
    struct FilesPITRTests {
        struct Upload: Hashable {
            var name: String
            var sha: String
        }

        @Test("restore --target-time T and files restore --as-of T agree; the snapshots record WAL positions",
              .timeLimit(.minutes(5)))
        func rowsAndFilesAgreeAtOneTime() async throws {
            let cluster = try await BackupTestCluster(prefix: "tm-it-files-pitr", configuration: ["track_commit_timestamp = on"])
            defer { cluster.stop() }
            let server = cluster.server
            let uploads = cluster.scratch.child("uploads")
            try FileManager.default.makeDirectory(uploads, mode: 0o755, owner: cluster.user)
            let config = cluster.scratch.child("tidemark.json")
            try FileManager.default.writeFile(config, Data(#"{"files": {"paths": ["\#(uploads)"]}}"#.utf8), mode: 0o600, owner: cluster.user)
            let files = cluster.tidemark.with(environment: ["TIDEMARK_CONFIG": config])
            try await server.psql("create table uploads (name text primary key, sha text not null, phase int not null)")

            /// Writes the files, then commits one row per file naming it with its SHA-256.
            func upload(_ names: [String], phase: Int) async throws {
                for name in names {
                    let path = uploads + "/" + name
                    let dir = (path as NSString).deletingLastPathComponent
                    if !FileManager.default.fileExists(atPath: dir) { try FileManager.default.makeDirectory(dir, mode: 0o755, owner: cluster.user) }
                    try? FileManager.default.removeItem(atPath: path)
                    try FileManager.default.writeFile(path, try FilesFixture.random(Int.random(in: 1...300_000)), mode: 0o644, owner: cluster.user)
                    let sha = try await FileDigest.sha256(path)
                    try await server.psql("insert into uploads values ('\(name)', '\(sha)', \(phase)) on conflict (name) do update set sha = excluded.sha, phase = excluded.phase")
                }
            }
            func currentLSN() async throws -> LSN { try #require(LSN(try await server.psql("select pg_current_wal_lsn()"))) }
            /// `files backup` (exit 0, no warning) between two readings of the WAL position.
            func filesBackup(_ extra: [String] = []) async throws -> (before: LSN, after: LSN) {
                let before = try await currentLSN()
                let run = try await ChildProcess.run(files.command(["files", "backup"] + extra))
                try #require(run.exitCode == 0, "\(run)")
                #expect(!run.stderrText.contains("WARNING"), "\(run.stderrText)")
                return (before, try await currentLSN())
            }

            try await upload(["avatars/u1.jpg", "avatars/u2.jpg", "diary/1.txt"], phase: 0)
            let (database, _) = try await cluster.backup("full")
            var bounds = [try await filesBackup(["--database-backup", database.id])]
            try await Task.sleep(for: .milliseconds(300))
            try await upload(["diary/2.txt", "docs/contract.pdf"], phase: 1)
            bounds.append(try await filesBackup())
            let manifestAtS1 = try await TreeManifest.of(uploads)
            let s1Ended = Int64(Date().timeIntervalSince1970 * 1_000_000)
            try await Task.sleep(for: .milliseconds(600))
            // After T: a new file, a replaced one (its row updated) and a removed one (its row deleted).
            try await upload(["diary/3.txt", "avatars/u1.jpg"], phase: 2)
            try FileManager.default.removeItem(atPath: uploads + "/diary/1.txt")
            try await server.psql("delete from uploads where name = 'diary/1.txt'")
            bounds.append(try await filesBackup())
            let last = try await server.switchWAL()
            _ = try await server.waitUntilArchived(last, timeout: .seconds(120))

            let phase1Last = try unixMicros(try await server.psql(
                "set timezone = 'UTC'; select max(pg_xact_commit_timestamp(xmin)) from uploads where phase <= 1"))
            let phase2First = try unixMicros(try await server.psql(
                "set timezone = 'UTC'; select min(pg_xact_commit_timestamp(xmin)) from uploads where phase = 2"))
            let target = s1Ended + (phase2First - s1Ended) / 2
            try #require(phase1Last < s1Ended && s1Ended < target && target < phase2First,
                         "phase 1 commits by \(phase1Last), S1 ended \(s1Ended), target \(target), phase 2 from \(phase2First)")
            let t = postgresTime(target)

            let snapshots = try JSONDecoder().decode(FilesListJSON.self, from: try await files.run("files", "list", "--json").stdout).snapshots
            try #require(snapshots.count == 3, "\(snapshots.map(\.id))")
            #expect(snapshots[0].databaseBackup == database.id && snapshots[1].databaseBackup == nil)
            // WAL positions: inside the readings around each backup, in order.
            for (s, b) in zip(snapshots, bounds) {
                let start = try #require(s.walStart.flatMap { LSN($0) }, "walStart of \(s.id): \(String(describing: s.walStart))")
                let end = try #require(s.walEnd.flatMap { LSN($0) }, "walEnd of \(s.id): \(String(describing: s.walEnd))")
                #expect(b.before <= start && start <= end && end <= b.after, "\(s.id): \(b.before) ≤ \(start) ≤ \(end) ≤ \(b.after)")
            }

            // plan names the snapshot --as-of T takes: the newest that started at or before T (S1).
            let plan = try await files.run("plan", "--target-time", t)
            try #require(plan.exitCode == 0, "\(plan)")
            #expect(plan.stdoutText.contains("files: snapshot \(snapshots[1].id) "), "\(plan.stdoutText)")

            let filesTarget = cluster.scratch.child("files-at-t")
            let restoredFiles = try await files.run("files", "restore", "--to", filesTarget, "--as-of", t)
            try #require(restoredFiles.exitCode == 0, "\(restoredFiles)")
            #expect(restoredFiles.stdoutText.contains("restored file snapshot \(snapshots[1].id) "), "\(restoredFiles.stdoutText)")
            let restoredManifest = try await TreeManifest.of(filesTarget + uploads)
            #expect(restoredManifest == manifestAtS1, "\(TreeManifest.difference(manifestAtS1, restoredManifest))")

            let dbTarget = cluster.scratch.child("db-at-t")
            let restoredDB = try await cluster.tidemark.run("restore", "--to", dbTarget, "--target-time", t, "--target-action", "promote")
            try #require(restoredDB.exitCode == 0, "\(restoredDB)")
            let restored = try await cluster.startRestored(dbTarget, name: "db-at-t")
            defer { restored.stop() }
            let rows = try await restored.psql("select name || ' ' || sha || ' ' || phase from uploads order by name")
                .split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            #expect(rows.map { $0.first ?? "" } == ["avatars/u1.jpg", "avatars/u2.jpg", "diary/1.txt", "diary/2.txt", "docs/contract.pdf"],
                    "rows at T: \(rows)")
            #expect(rows.allSatisfy { $0.count == 3 && $0[2] != "2" }, "a row of after T was restored: \(rows)")
            for row in rows where row.count == 3 {
                let path = filesTarget + uploads + "/" + row[0]
                #expect(FileManager.default.fileExists(atPath: path), "the restored row names \(row[0]); the restored files lack it")
                if FileManager.default.fileExists(atPath: path) {
                    #expect(try await FileDigest.sha256(path) == row[1], "\(row[0]): restored bytes differ from what the row recorded")
                }
            }
            #expect(!FileManager.default.fileExists(atPath: filesTarget + uploads + "/diary/3.txt"), "a file uploaded after T was restored")
        }
    }
}
