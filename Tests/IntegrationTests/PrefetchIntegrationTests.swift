import Foundation
import Testing
import TidemarkTesting

extension PostgreSQLIntegration {
    @Suite("wal-fetch prefetching during a real recovery", .tags(.large))
    struct PrefetchIntegrationTests {
        /// Commits spread over a dozen segments; a restore to a time between two commits with
        /// prefetching on (a spool of 4): exactly the rows committed by then, and the spool's
        /// counter shows segments were served from it (not only fetched one by one).
        @Test("PITR with prefetching: exact rows, segments served from the spool", .timeLimit(.minutes(10)))
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
            let spool = cluster.scratch.child("spool")
            var environment = server.environment
            environment["TIDEMARK_SPOOL"] = spool
            environment["TIDEMARK_PREFETCH"] = "4"
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

            let served = Int((try? String(contentsOfFile: spool + "/served", encoding: .utf8)) ?? "") ?? 0
            let prefetched = Int((try? String(contentsOfFile: spool + "/prefetched", encoding: .utf8)) ?? "") ?? 0
            #expect(served >= 3, "segments served from the prefetch spool: \(served) (prefetched \(prefetched))")
            #expect(prefetched >= served)
            #expect(!log.contains("not used"), "no spooled copy was refused: \(log)")
            // The spool holds at most its window (4) of segments.
            let left = ((try? FileManager.default.contentsOfDirectory(atPath: spool)) ?? []).filter { $0.count == 24 }
            #expect(left.count <= 4, "spool entries left: \(left)")
        }
    }
}
