import Foundation
import Testing
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

extension PostgreSQLIntegration {
    /// `tidemark backup` / `list` / `restore` against a real PostgreSQL 15: what was committed
    /// when a backup was taken is exactly what a restore of that backup holds.
    @Suite("Backup and restore")
    struct BackupRestoreIntegrationTests {
        static let pgbenchTables = ["pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history"]
        static let smallTables = 2000
        static let documentedListFields = [
            "id", "type", "parent", "label", "startTime", "stopTime", "startLSN", "stopLSN", "timeline", "size",
            "storedSize", "durationSeconds", "postgresVersion", "systemIdentifier", "repository",
        ]

        @Test("full + incremental with a second tablespace; each restores to its own rows, verified and promoted",
              .timeLimit(.minutes(15)))
        func fullAndIncrementalRestoreEach() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-bk-restore")
            defer { cluster.stop() }
            let server = cluster.server
            let tables = Self.pgbenchTables + ["ts_data", "small_parent"]

            let tablespaceLocation = try cluster.makeServerDirectory("ts-original")
            try await server.psql("create tablespace ts_one location '\(tablespaceLocation)'")
            let tablespaceOID = try await server.psql("select oid from pg_tablespace where spcname = 'ts_one'")
            try await server.psql(
                """
                create table ts_data (id int primary key using index tablespace ts_one, v text not null) tablespace ts_one;
                insert into ts_data select g, md5(g::text) from generate_series(1, 20000) g;
                """)
            try await server.pgbench(["-i", "-q", "-s", "10"])
            // Thousands of small files (one per table), which a backup must bundle, not store one by one.
            try await server.psql(
                """
                create table small_parent (id int not null, v text not null);
                do $$ begin
                  for i in 1..\(Self.smallTables) loop
                    execute format('create table small_%s () inherits (small_parent)', i);
                    execute format('insert into small_%s values (%s, md5(%s::text))', i, i, i);
                  end loop;
                end $$;
                """, timeout: .seconds(300))

            // Full: digest, then backup, nothing written in between.
            let fullDigests = try await rowDigests(tables, psql: { try await server.psql($0) })
            let (full, fullRun) = try await cluster.backup("full", label: "it full")
            #expect(full.type == "full" && full.parent == nil, "\(full)")
            let fullObjects = try FileManager.default.contentsOfDirectory(atPath: cluster.repository.directory + "/main/backup/" + full.id)
            #expect(fullObjects.count < 100, "a full backup of \(Self.smallTables)+ files is \(fullObjects.count) objects")

            // More writes, in both tablespaces.
            try await server.pgbench(["-c", "2", "-j", "2", "-T", "5", "-n"])
            try await server.psql(
                """
                insert into ts_data select g, md5(g::text) from generate_series(20001, 25000) g;
                update ts_data set v = upper(v) where id % 7 = 0;
                delete from ts_data where id % 11 = 0;
                update small_parent set v = upper(v) where id % 10 = 0;
                """)
            let incrementalDigests = try await rowDigests(tables, psql: { try await server.psql($0) })
            #expect(incrementalDigests != fullDigests, "the writes after the full backup changed nothing?")
            let (incremental, incrementalRun) = try await cluster.backup("incremental", label: "it incremental")
            print("backup: full \(full.id) \(full.size) B, stored \(full.storedSize) B in \(fullObjects.count) objects in \(fullRun.duration); incremental \(incremental.id) stored \(incremental.storedSize) B in \(incrementalRun.duration)")

            // list --json: the two backups, types and parent.
            let listed = try await cluster.list().backups
            #expect(listed.map(\.id) == [full.id, incremental.id], "\(listed.map(\.id))")
            #expect(listed.map(\.type) == ["full", "incremental"])
            #expect(listed.first?.parent == nil)
            #expect(listed.last?.parent == full.id)
            for entry in listed {
                #expect(entry.timeline == 1, "\(entry)")
                #expect(entry.size > 100_000_000 && entry.storedSize > 0, "\(entry)")
                #expect(lsn(entry.startLSN) != nil && lsn(entry.stopLSN) != nil && lsn(entry.startLSN)! <= lsn(entry.stopLSN)!, "\(entry)")
                for time in [entry.startTime, entry.stopTime] {
                    #expect(ISO8601DateFormatter().date(from: time) != nil, "not ISO 8601 with a zone: \(time)")
                }
            }
            // Every documented field is present in each entry (docs/list-json.md).
            let raw = try await cluster.tidemark.run("list", "--json")
            let object = try JSONSerialization.jsonObject(with: raw.stdout) as? [String: Any]
            let rawEntries = try #require(object?["backups"] as? [[String: Any]], "list --json: \(raw.stdoutText)")
            #expect(rawEntries.count == 2)
            for entry in rawEntries {
                let missing = Self.documentedListFields.filter { $0 != "parent" && entry[$0] == nil }
                #expect(missing.isEmpty, "list --json entry lacks documented fields \(missing): \(entry)")
            }
            #expect(rawEntries.allSatisfy { $0["parent"] != nil }, "parent is always present (null for a full): \(raw.stdoutText)")
            #expect((lsn(incremental.startLSN) ?? 0) > (lsn(full.stopLSN) ?? .max), "incremental \(incremental.startLSN) starts before the full ends \(full.stopLSN)")
            #expect(incremental.storedSize < full.storedSize, "incremental stored \(incremental.storedSize) B, full \(full.storedSize) B")

            // Restore each into a fresh directory, with the tablespace relocated.
            for (entry, expected) in [(full, fullDigests), (incremental, incrementalDigests)] {
                let name = entry.type
                let target = cluster.scratch.child("restored-\(name)")
                let mapped = cluster.scratch.child("ts-\(name)")
                let restoreRun = try await cluster.restore(entry.id, to: target, tablespaceMap: [tablespaceLocation: mapped])
                print("restore of \(entry.id) (\(name)): \(restoreRun.duration)")

                let problems = permissionProblems(under: target, owner: cluster.user)
                    + permissionProblems(under: mapped, owner: cluster.user)
                #expect(problems.isEmpty, "restored modes/owners (\(problems.count)): \(problems.prefix(10))")
                let link = target + "/pg_tblspc/" + tablespaceOID
                #expect(symlinkTarget(link) == mapped, "pg_tblspc/\(tablespaceOID) links to \(symlinkTarget(link) ?? "nothing")")
                let versionDirectories = (try? FileManager.default.contentsOfDirectory(atPath: mapped)) ?? []
                #expect(versionDirectories.count == 1 && versionDirectories.first?.hasPrefix("PG_15_") == true,
                        "mapped tablespace holds \(versionDirectories)")
                for file in ["backup_label", "recovery.signal", "backup_manifest", "global/pg_control", "PG_VERSION"] {
                    #expect(FileManager.default.fileExists(atPath: target + "/" + file), "restored directory lacks \(file)")
                }
                #expect(FileManager.default.fileExists(atPath: target + "/pg_wal"), "restored directory lacks pg_wal")

                // Before starting it: starting modifies the directory.
                try await cluster.verifyBackup(target)

                let restored = try await cluster.startRestored(target, name: name)
                defer { restored.stop() }
                let actual = try await rowDigests(tables, psql: { try await restored.psql($0) })
                for table in tables {
                    #expect(actual[table] == expected[table], "\(name) restore: \(table) rows differ from what was committed at backup time")
                }
                #expect(try await restored.psql("select pg_tablespace_location(\(tablespaceOID))") == mapped)
                #expect(try await restored.psql("select pg_relation_filepath('ts_data')").hasPrefix("pg_tblspc/\(tablespaceOID)/"))
                #expect(symlinkTarget(link) == mapped, "after start, pg_tblspc/\(tablespaceOID) links to \(symlinkTarget(link) ?? "nothing")")
                #expect(restored.log().contains("archive recovery complete"), "\(restored.log())")
                restored.stop()
            }
            // The original tablespace location is the primary's and must be untouched by restores.
            #expect(try await server.psql("select count(*) from ts_data") == "22728")
        }
    }
}

/// `X/Y` → 64-bit LSN.
func lsn(_ text: String) -> UInt64? {
    let parts = text.split(separator: "/")
    guard parts.count == 2, let high = UInt64(parts[0], radix: 16), let low = UInt64(parts[1], radix: 16) else { return nil }
    return high << 32 | low
}
