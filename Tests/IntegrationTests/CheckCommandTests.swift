import Foundation
import Testing
import TidemarkTesting

extension PostgreSQLIntegration {
    /// `tidemark check`: exit 0 and only "ok" lines when the setup is right; a non-zero exit
    /// and a line with the fix for each thing that is wrong.
    @Suite("Check command")
    struct CheckCommandTests {
        @Test("check passes on a correct setup and fails, with a fix, for a wrong repository and a wrong archive_command",
              .timeLimit(.minutes(10)))
        func checkPassesThenFails() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-bk-check")
            defer { cluster.stop() }
            let server = cluster.server
            // Shorter than the default 60 s wait for the switched segment, so failures are quick.
            let configFile = cluster.scratch.child("tidemark.json")
            try FileManager.default.writeFile(configFile, Data(#"{"archiveTimeoutSeconds": 15}"#.utf8), mode: 0o600, owner: cluster.user)
            // A private TMPDIR: stale spools other runs left in /tmp would be warnings here.
            let tidemark = cluster.tidemark.with(environment: ["TIDEMARK_CONFIG": configFile, "TMPDIR": try cluster.makeServerDirectory("tmp")])

            let good = try await tidemark.run("check")
            let goodLines = lines(good.stdoutText)
            print("check on a correct setup (\(good.duration)):\n\(good.stdoutText)")
            #expect(good.exitCode == 0, "\(good)")
            #expect(goodLines.count >= 6, "check printed too little: \(good.stdoutText)")
            #expect(goodLines.allSatisfy { $0.hasPrefix("ok") }, "not every line is ok: \(good.stdoutText)")
            for topic in ["wal_level", "archive_mode", "archive_command", "max_wal_senders", "REPLICATION", "arrived in the repository"] {
                #expect(good.stdoutText.contains(topic), "check says nothing about \(topic): \(good.stdoutText)")
            }

            // The same server checked against another repository: the archive_command text is
            // right, but the segment never arrives where this configuration looks.
            let (other, _) = try await initializedRepository(in: cluster.scratch, name: "other", binary: cluster.binary, user: cluster.user)
            let elsewhere = try await tidemark.with(environment: other.environment).run("check")
            print("check against another repository (\(elsewhere.duration)):\n\(elsewhere.stdoutText)\(elsewhere.stderrText)")
            expectFailure(elsewhere, naming: "WAL archiving")

            // archive_command that archives nothing.
            try await server.psql("alter system set archive_command = '/bin/true'")
            try await server.psql("select pg_reload_conf()")
            let deadline = ContinuousClock.now + .seconds(30)
            while try await server.psql("show archive_command") != "/bin/true" {
                try #require(ContinuousClock.now < deadline, "the reload did not take effect")
                try await Task.sleep(for: .milliseconds(100))
            }
            let bad = try await tidemark.run("check")
            print("check with archive_command = '/bin/true' (\(bad.duration)):\n\(bad.stdoutText)\(bad.stderrText)")
            expectFailure(bad, naming: "archive_command")
            let fix = lines(bad.stdoutText).first { $0.hasPrefix("fix:") && $0.contains("archive_command") }
            #expect(fix?.contains("wal-push %p") == true, "the fix line should say what archive_command must be: \(bad.stdoutText)")
        }

        /// The documented role (LOGIN REPLICATION) can connect, but `check` forces a WAL switch:
        /// without the grant check fails with a HINT naming the exact GRANT; after it, check passes.
        /// `--json` says the same as an object (docs/check-json.md).
        @Test("a LOGIN REPLICATION role: check names the missing GRANT; after the GRANT it passes", .timeLimit(.minutes(10)))
        func checkNamesTheMissingGrant() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-bk-grant")
            defer { cluster.stop() }
            let configFile = cluster.scratch.child("tidemark.json")
            try FileManager.default.writeFile(configFile, Data(#"{"archiveTimeoutSeconds": 15}"#.utf8), mode: 0o600, owner: cluster.user)
            // A private TMPDIR: stale spools other runs left in /tmp are not this test's business.
            let temp = try cluster.makeServerDirectory("tmp")
            try await cluster.server.psql("create role tidemark with login replication")
            let tidemark = cluster.tidemark.with(environment: ["TIDEMARK_CONFIG": configFile, "PGUSER": "tidemark", "TMPDIR": temp])

            let denied = try await tidemark.run("check")
            print("check as a LOGIN REPLICATION role (\(denied.duration)):\n\(denied.stdoutText)\(denied.stderrText)")
            expectFailure(denied, naming: "WAL archiving")
            #expect(denied.exitCode == 3, "a missing grant is a configuration error: \(denied)")
            let grant = "GRANT EXECUTE ON FUNCTION pg_switch_wal() TO tidemark;"
            #expect(denied.stdoutText.contains("fix: as a superuser: \(grant)"), "the fix must name the GRANT: \(denied.stdoutText)")

            let json = try await tidemark.run("check", "--json")
            #expect(json.exitCode == 3, "\(json)")
            let object = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any], "not a JSON object: \(json.stdoutText)")
            #expect(object["status"] as? String == "failed")
            let checks = try #require(object["checks"] as? [[String: Any]])
            let archiving = try #require(checks.first { $0["name"] as? String == "archiving" }, "no 'archiving' check: \(json.stdoutText)")
            #expect(archiving["status"] as? String == "failed")
            #expect((archiving["hint"] as? String)?.contains(grant) == true, "\(archiving)")
            #expect((archiving["message"] as? String)?.contains("pg_switch_wal") == true, "\(archiving)")
            for check in checks {
                #expect(Set(check.keys) == ["name", "status", "message", "hint"], "\(check)")
                #expect(["ok", "failed", "warning"].contains(check["status"] as? String ?? ""), "\(check)")
            }
            let connection = try #require(checks.first { $0["name"] as? String == "connection" })
            #expect(connection["status"] as? String == "ok" && connection["hint"] is NSNull, "\(connection)")

            try await cluster.server.psql(grant)
            let granted = try await tidemark.run("check")
            print("check after the GRANT (\(granted.duration)):\n\(granted.stdoutText)\(granted.stderrText)")
            #expect(granted.exitCode == 0, "\(granted)")
            #expect(lines(granted.stdoutText).allSatisfy { $0.hasPrefix("ok") }, "not every line is ok: \(granted.stdoutText)")
            #expect(granted.stdoutText.contains("arrived in the repository"))
            let grantedJSON = try await tidemark.run("check", "--json")
            #expect(grantedJSON.exitCode == 0, "\(grantedJSON)")
            let ok = try JSONSerialization.jsonObject(with: grantedJSON.stdout) as? [String: Any]
            #expect(ok?["status"] as? String == "ok", "\(grantedJSON.stdoutText)")

            // A spool an older Tidemark left in the temp directory: a warning (exit 0) that
            // says how to remove it.
            let stale = temp + "/tidemark-spool-\(cluster.user?.uid ?? 0)-main-0123456789abcdef"
            try FileManager.default.makeDirectory(stale, mode: 0o700, owner: cluster.user)
            let warned = try await tidemark.run("check")
            print("check with a stale spool (\(warned.duration)):\n\(warned.stdoutText)\(warned.stderrText)")
            #expect(warned.exitCode == 0, "a stale spool is a warning: \(warned)")
            #expect(warned.stdoutText.contains("WARN  prefetch spool \(stale): holds decrypted WAL"), "\(warned.stdoutText)")
            #expect(warned.stdoutText.contains("fix: no recovery uses it: remove it as its owner with rm -rf -- \(stale)"), "\(warned.stdoutText)")
            let warnedJSON = try await tidemark.run("check", "--json")
            #expect(warnedJSON.exitCode == 0, "\(warnedJSON)")
            let object2 = try #require(try JSONSerialization.jsonObject(with: warnedJSON.stdout) as? [String: Any])
            #expect(object2["status"] as? String == "warning", "\(warnedJSON.stdoutText)")
            let spool = (object2["checks"] as? [[String: Any]])?.first { $0["name"] as? String == "spool" }
            #expect(spool?["status"] as? String == "warning" && (spool?["hint"] as? String)?.contains("rm -rf -- \(stale)") == true,
                    "\(warnedJSON.stdoutText)")
        }

        /// The server is down: exit 7 (docs/exit-codes.md), and the fix says where it looked.
        @Test("check with the server down exits 7 and names the server's address", .timeLimit(.minutes(5)))
        func checkWithTheServerDown() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-bk-down")
            defer { cluster.stop() }
            let temp = try cluster.makeServerDirectory("tmp")
            let tidemark = cluster.tidemark.with(environment: ["TMPDIR": temp])
            cluster.stop()
            let down = try await tidemark.run("check")
            print("check with the server down (\(down.duration)):\n\(down.stdoutText)\(down.stderrText)")
            #expect(down.exitCode == 7, "\(down)")
            expectFailure(down, naming: "replication connection")
            let fix = lines(down.stdoutText).first { $0.hasPrefix("fix:") } ?? ""
            #expect(fix.contains("reachable at socket \(cluster.server.socketDirectory)/.s.PGSQL.\(cluster.server.port)"),
                    "the fix must say where the server was looked for: \(fix)")
            #expect(!fix.hasSuffix(": "), "\(fix)")
            let json = try await tidemark.run("check", "--json")
            #expect(json.exitCode == 7, "\(json)")
            let object = try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any]
            #expect(object?["status"] as? String == "failed", "\(json.stdoutText)")
        }

        /// Non-zero exit, a `FAIL  <what>` line followed by a `fix:` line, and the other lines ok.
        func expectFailure(_ result: ProcessResult, naming what: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(result.exitCode != 0, "check passed: \(result)", sourceLocation: sourceLocation)
            let all = lines(result.stdoutText)
            guard let index = all.firstIndex(where: { $0.hasPrefix("FAIL") && $0.contains(what) }) else {
                Issue.record("no FAIL line about \(what): \(result)", sourceLocation: sourceLocation)
                return
            }
            #expect(index + 1 < all.count && all[index + 1].hasPrefix("fix:") && all[index + 1].count > "fix: ".count,
                    "FAIL line without a fix line after it: \(result.stdoutText)", sourceLocation: sourceLocation)
            #expect(all.allSatisfy { $0.hasPrefix("ok") || $0.hasPrefix("FAIL") || $0.hasPrefix("fix:") },
                    "unexpected lines: \(result.stdoutText)", sourceLocation: sourceLocation)
        }

        func lines(_ text: String) -> [String] {
            text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
    }
}
