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
            let tidemark = cluster.tidemark.with(environment: ["TIDEMARK_CONFIG": configFile])

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
