import Foundation
import Testing
import TidemarkTesting

extension PostgreSQLIntegration {
    /// Block-level incremental: random-row updates across a large table change a small
    /// fraction of its pages, so the incremental stores a small fraction of the full.
    ///
    /// The workload runs 10 s at a fixed rate (`pgbench -T 10 -R 200`, about 2,000
    /// transactions), not flat out: how much of the database an unthrottled run touches depends
    /// on the machine's speed (here `-T 10` ran 4,900 to 7,800 transactions, which changed 19%
    /// to 29% of all pages — and changed pages compress about 1.7× worse than untouched ones —
    /// for an incremental of 37% to 48% of the full), so a bound on it would pass or fail by
    /// hardware. 2,000 random-row transactions on 2 M rows change about 9% of the pages; an
    /// incremental with megabyte (or file) granularity would store nearly the whole full.
    @Suite("Backup: block-level incremental size")
    struct BackupIncrementalSizeTests {
        /// The incremental may store at most this fraction of the full's stored bytes.
        static let maximumRatio = 0.25

        @Test("pgbench -s 20, full, pgbench -T 10 -R 200, incremental: stores < 25% of the full and restores the same rows",
              .timeLimit(.minutes(15)))
        func incrementalAfterRandomUpdatesIsSmall() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-bk-incr")
            defer { cluster.stop() }
            let server = cluster.server
            let tables = BackupRestoreIntegrationTests.pgbenchTables

            try await server.pgbench(["-i", "-q", "-s", "20"])
            try await server.psql("create extension pageinspect")
            let (full, fullRun) = try await cluster.backup("full")

            let bench = try await server.pgbench(["-c", "2", "-j", "2", "-T", "10", "-R", "200", "-n"])
            let tps = bench.stdoutText.split(separator: "\n").first { $0.hasPrefix("tps") } ?? "?"
            let transactions = try await server.psql("select count(*) from pgbench_history")
            // How much of the database changed, page by page: a lower bound for any incremental
            // (pages whose LSN moved since the full started, over all pages of permanent relations).
            let pages = try await server.psql(
                """
                select count(*) filter (where (page_header(get_raw_page(c.oid::regclass::text, 'main', b))).lsn >= '\(full.startLSN)'::pg_lsn)
                       || ' ' || count(*)
                from pg_class c
                cross join lateral generate_series(0, pg_relation_size(c.oid) / 8192 - 1) b
                where c.relkind in ('r', 'i', 't', 'm') and c.relpersistence = 'p'
                """, timeout: .seconds(300))
            let expected = try await rowDigests(tables, psql: { try await server.psql($0) })
            let (incremental, incrementalRun) = try await cluster.backup("incremental")
            #expect(incremental.type == "incremental" && incremental.parent == full.id, "\(incremental)")

            let ratio = Double(incremental.storedSize) / Double(full.storedSize)
            let changed = pages.split(separator: " ").compactMap { Double($0) }
            let pageFraction = changed.count == 2 && changed[1] > 0 ? changed[0] / changed[1] : .nan
            print(
                """
                incremental size: full \(full.id) size \(full.size) B stored \(full.storedSize) B in \(fullRun.duration); \
                pgbench -T 10 -R 200: \(tps), \(transactions) transactions; pages changed since the full (changed total): \(pages) \
                = \(String(format: "%.1f", pageFraction * 100))%; incremental stored \(incremental.storedSize) B \
                in \(incrementalRun.duration); ratio \(String(format: "%.2f", ratio * 100))%
                """)
            #expect(ratio < Self.maximumRatio,
                    "incremental stored \(incremental.storedSize) B = \(String(format: "%.1f", ratio * 100))% of the full's \(full.storedSize) B (bound \(Int(Self.maximumRatio * 100))%); pages changed: \(pages)")
            #expect(incremental.size > full.size / 2, "an incremental still describes the whole database: \(incremental)")

            let target = cluster.scratch.child("restored")
            let restoreRun = try await cluster.restore(incremental.id, to: target)
            print("restore of the incremental \(incremental.id): \(restoreRun.duration)")
            try await cluster.verifyBackup(target)
            let restored = try await cluster.startRestored(target, name: "restored")
            defer { restored.stop() }
            let actual = try await rowDigests(tables, psql: { try await restored.psql($0) })
            for table in tables {
                #expect(actual[table] == expected[table], "\(table): restored rows differ from the primary's at backup time")
            }
        }
    }
}
