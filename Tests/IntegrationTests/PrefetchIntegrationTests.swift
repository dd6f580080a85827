import Foundation
import Testing
import TidemarkCodec
import TidemarkTesting

extension PostgreSQLIntegration {
    @Suite("wal-fetch prefetching during a real recovery", .tags(.large))
    struct PrefetchIntegrationTests {
        /// Commits spread over a dozen segments; a restore to a time between two commits with
        /// prefetching on (a spool of 4, in its default place): exactly the rows committed by
        /// then, the server log shows segments were served from the spool (not only fetched one
        /// by one), and once recovery has ended no spool of decrypted WAL is left: not in the
        /// data directory, not where older versions put it in /tmp.
        @Test("PITR with prefetching: exact rows, segments served from the spool, no spool left after recovery",
              .timeLimit(.minutes(10)))
        func restoreWithPrefetch() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-it-prefetch", configuration: ["track_commit_timestamp = on"])
            defer { cluster.stop() }
            let server = cluster.server
            try await server.psql("create table pitr (id int primary key, note text)")
            try await server.psql("create table filler (n int, pad text)")
            _ = try await cluster.commitRows([1, 2])
            try await cluster.backup("full")

            var rows: [CommittedRow] = []
            for batch in 0..<12 {
                // Some real WAL per segment (not only empty switched segments) to replay.
                try await server.psql("insert into filler select g, repeat('x', 200) from generate_series(1, 20000) g")
                rows += try await cluster.commitRows([10 + batch * 2, 11 + batch * 2], pause: .milliseconds(20))
                _ = try await server.switchWAL()
            }
            let target = rows[17]   // after batch 8: the later segments must not be applied
            let after = rows[18]
            let text = postgresTime(target.micros + (after.micros - target.micros) / 2)
            _ = try await cluster.commitRows([90, 91])
            let last = try await server.switchWAL()
            _ = try await server.waitUntilArchived(last, timeout: .seconds(120))

            let dir = cluster.scratch.child("restored")
            let result = try await ChildProcess.run(cluster.tidemark.command(
                ["restore", "--to", dir, "--target-time", text, "--target-action", "promote"]))
            try #require(result.exitCode == 0, "restore failed: \(result)")
            // The default spool: inside the data directory being recovered.
            let spool = dir + "/pgsql_tmp.tidemark-spool"
            var environment = server.environment
            environment["TIDEMARK_SPOOL"] = nil
            environment["TIDEMARK_PREFETCH"] = "4"
            let stanza = environment["TIDEMARK_STANZA"] ?? "main"
            let temp = environment["TMPDIR"] ?? "/tmp"
            // Where Tidemark put the spool before: /tmp/tidemark-spool-<uid>-<stanza>-<hash of the data directory>.
            var hasher = ContentHasher()
            hasher.update(Array(dir.utf8))
            let uid = cluster.user?.uid ?? geteuid()
            let legacy = "\(temp)/tidemark-spool-\(uid)-\(stanza)-\(hexString(hasher.finalize()).prefix(16))"
            let restored = try await RestoredServer(
                dataDirectory: dir, socketDirectory: try cluster.makeServerDirectory("restored-socket"),
                logFile: cluster.scratch.child("restored.log"), binDirectory: server.binDirectory, user: cluster.user,
                environment: environment)
            defer { restored.stop() }

            let ids = try await restored.psql("select coalesce(string_agg(id::text, ',' order by id), '') from pitr")
            let expected = ([1, 2] + rows.filter { $0.micros <= target.micros }.map(\.id)).sorted()
            #expect(ids.split(separator: ",").compactMap { Int($0) } == expected, "rows after PITR to \(text)")
            let log = restored.log()
            #expect(log.contains("recovery stopping before commit of transaction"), "\(log)")

            // wal-fetch says in the server log when it served a segment from the spool, with the
            // spool's counters.
            let servedLines = log.split(separator: "\n").filter { $0.contains("served from the prefetch spool") }
            let counters = servedLines.last?.firstMatch(of: #/\(served (\d+), prefetched (\d+)\)/#)
            let served = counters.flatMap { Int($0.output.1) } ?? 0
            let prefetched = counters.flatMap { Int($0.output.2) } ?? 0
            #expect(served >= 3, "segments served from the prefetch spool: \(served) (prefetched \(prefetched))")
            #expect(prefetched >= served)
            #expect(servedLines.count == served, "one line per served segment: \(servedLines)")
            #expect(!log.contains("not used"), "no spooled copy was refused: \(log)")

            // Recovery has ended (the server is in production): the prefetcher sees it in
            // pg_control and removes the spool with everything in it.
            let deadline = ContinuousClock.now + .seconds(30)
            while FileManager.default.fileExists(atPath: spool), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(!FileManager.default.fileExists(atPath: spool),
                    "spool left after recovery: \((try? FileManager.default.contentsOfDirectory(atPath: spool)) ?? [])")
            #expect(!FileManager.default.fileExists(atPath: legacy), "a spool of decrypted WAL was left in \(legacy)")
            let inTemp = ((try? FileManager.default.contentsOfDirectory(atPath: temp)) ?? []).filter {
                $0.hasPrefix("tidemark-spool-\(uid)-\(stanza)-")
                    && $0.hasSuffix(String(legacy.suffix(16)))
            }
            #expect(inTemp.isEmpty, "spools left in \(temp): \(inTemp)")
        }
    }
}
