import Foundation
import Testing
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

extension PostgreSQLIntegration {
    /// Mistakes a DBA makes with backup and restore: a clear message, a non-zero exit, and
    /// nothing touched that should not be.
    @Suite("Backup and restore errors")
    struct BackupErrorTests {
        @Test("backup as a role without REPLICATION fails with an ALTER ROLE hint; restore refuses a non-empty directory without --force",
              .timeLimit(.minutes(10)))
        func replicationPermissionAndNonEmptyTarget() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-bk-errors")
            defer { cluster.stop() }
            let server = cluster.server
            try await server.pgbench(["-i", "-q", "-s", "1"])
            let (full, _) = try await cluster.backup("full")

            // A role that may log in but not replicate.
            try await server.psql("create role norepl login")
            let noReplication = try await cluster.tidemark.run("backup", "--type", "full", environment: ["PGUSER": "norepl"])
            print("backup as norepl: exit \(noReplication.exitCode)\n\(noReplication.stderrText)")
            #expect(noReplication.exitCode != 0, "\(noReplication)")
            #expect(noReplication.stderrText.contains("ALTER ROLE"), "no ALTER ROLE hint: \(noReplication.stderrText)")
            #expect(noReplication.stderrText.contains("HINT"), "no HINT line: \(noReplication.stderrText)")
            #expect(try await cluster.list().backups.map(\.id) == [full.id], "a failed backup changed the list")
            #expect(cluster.backupDirectoriesInRepository() == [full.id], "a failed backup left objects behind")
            // check says the same.
            let check = try await cluster.tidemark.run("check", environment: ["PGUSER": "norepl"])
            #expect(check.exitCode != 0, "check passes for a role without REPLICATION: \(check)")
            #expect((check.stdoutText + check.stderrText).contains("ALTER ROLE"), "check gives no ALTER ROLE fix: \(check)")

            // Restore into a directory that holds something: refused, and nothing touched.
            let target = try cluster.makeServerDirectory("not-empty")
            try FileManager.default.makeDirectory(target + "/keep", mode: 0o750, owner: cluster.user)
            try FileManager.default.writeFile(target + "/precious.txt", Data("do not delete\n".utf8), mode: 0o640, owner: cluster.user)
            try FileManager.default.writeFile(target + "/keep/inner", Data(repeating: 7, count: 10_000), mode: 0o600, owner: cluster.user)
            let before = snapshot(target)
            let refused = try await cluster.tidemark.run(
                "restore", "--to", target, "--backup", full.id, "--target-immediate", "--target-action", "promote")
            print("restore into a non-empty directory: exit \(refused.exitCode)\n\(refused.stderrText)")
            #expect(refused.exitCode != 0, "\(refused)")
            #expect(refused.stderrText.contains("not empty") && refused.stderrText.contains("--force"),
                    "the refusal should say why and how: \(refused.stderrText)")
            #expect(snapshot(target) == before, "restore changed a directory it refused")

            // --dry-run writes nothing either.
            let dryTarget = cluster.scratch.child("dry-run")
            let dry = try await cluster.tidemark.run("restore", "--to", dryTarget, "--dry-run")
            #expect(dry.exitCode == 0 && dry.stdoutText.contains(full.id), "\(dry)")
            #expect(!FileManager.default.fileExists(atPath: dryTarget), "--dry-run created \(dryTarget)")

            // With --force the same restore replaces the content and the result starts.
            try await cluster.restore(full.id, to: target, force: true)
            #expect(!FileManager.default.fileExists(atPath: target + "/precious.txt"), "--force kept the old content")
            #expect(permissionProblems(under: target, owner: cluster.user).isEmpty,
                    "\(permissionProblems(under: target, owner: cluster.user).prefix(10))")
            try await cluster.verifyBackup(target)
            let restored = try await cluster.startRestored(target, name: "forced")
            defer { restored.stop() }
            #expect(try await restored.psql("select count(*) from pgbench_accounts") == "100000")
        }

        /// Path → (type and mode, owner, size, content digest) of everything under `root`.
        func snapshot(_ root: String) -> [String: String] {
            var result: [String: String] = [:]
            func visit(_ path: String, _ relative: String) {
                var st = stat()
                guard lstat(path, &st) == 0 else { return }
                var description = "\(String(st.st_mode, radix: 8)) \(st.st_uid) \(st.st_size)"
                if st.st_mode & S_IFMT == S_IFREG, let data = FileManager.default.contents(atPath: path) {
                    description += " " + data.base64EncodedString()
                }
                result[relative] = description
                if st.st_mode & S_IFMT == S_IFDIR {
                    for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                        visit(path + "/" + name, relative + "/" + name)
                    }
                }
            }
            visit(root, ".")
            return result
        }
    }
}
