import Foundation
import PostgresReplication
import Testing
import TidemarkCore
import TidemarkTesting

extension ReplicationServerTests {
    @Suite("BASE_BACKUP against PostgreSQL 15")
    struct BaseBackupTests {
        /// A server with pgbench data and a table in a second tablespace.
        struct Database {
            let server: PostgresFixture
            let tablespaceDirectory: ScratchDirectory
            let tablespaceOID: UInt32
        }

        static func database() async throws -> Database {
            let server = try await PostgresFixture()
            let directory = try ScratchDirectory(prefix: "tm-tblspc", mode: 0o700, owner: server.user)
            try await server.pgbench(["-i", "-s", "1", "-q"])
            try await server.psql("create tablespace second location \(PostgresFixture.quotedSQL(directory.path))")
            try await server.psql("""
                create table in_second (id int, payload text) tablespace second;
                insert into in_second select g, repeat(md5(g::text), 8) from generate_series(1, 20000) g;
                """)
            let oid = try #require(UInt32(try await server.psql("select oid from pg_tablespace where spcname = 'second'")))
            return Database(server: server, tablespaceDirectory: directory, tablespaceOID: oid)
        }

        @Test("a full backup streams every file, matching the manifest's sizes and SHA-256", .timeLimit(.minutes(5)))
        func fullBackupMatchesItsManifest() async throws {
            let database = try await Self.database()
            let connection = try await ReplicationConnection.connect(
                conninfo: database.server.conninfo(), timeout: .seconds(20))
            #expect(try await connection.simpleQuery("select 1") == [["1"]], "SQL before the backup")
            let label = "tidemark test's backup"
            let stream = try connection.baseBackup(options: BaseBackupOptions(
                label: label, progress: true, checkpoint: .fast, waitForWALArchive: false, manifest: .yes,
                manifestChecksums: .sha256))
            #expect(stream.command.hasPrefix("BASE_BACKUP ( LABEL 'tidemark test''s backup', PROGRESS"))
            await #expect(throws: ReplicationError.self, "the connection is busy while the backup streams") {
                try await connection.identifySystem()
            }
            let backup = try await record(stream)

            // Order: start, tablespaces, the tablespace archive, base.tar, manifest, end.
            let oidArchive = "\(database.tablespaceOID).tar"
            let skeleton = backup.events.filter { !$0.hasPrefix("file ") }
            #expect(skeleton == ["started", "tablespaces", "archive \(oidArchive)", "end \(oidArchive)",
                                 "archive base.tar", "end base.tar", "manifest", "finished"], "\(skeleton)")
            let start = try #require(backup.start)
            let end = try #require(backup.end)
            #expect(start.0 <= end.0)
            #expect(start.1 == TimelineID(1) && end.1 == TimelineID(1))
            #expect(backup.tablespaces.count == 2)
            #expect(backup.tablespaces.first?.oid == database.tablespaceOID)
            #expect(backup.tablespaces.first?.location == database.tablespaceDirectory.path)
            #expect(backup.tablespaces.allSatisfy { $0.estimatedSizeKiB != nil }, "PROGRESS fills the estimates")
            #expect(backup.tablespaces.last == TablespaceInfo(oid: nil, location: nil, estimatedSizeKiB: backup.tablespaces.last?.estimatedSizeKiB))
            #expect(backup.archives.map(\.name) == [oidArchive, "base.tar"])
            #expect(backup.archives.first?.location == database.tablespaceDirectory.path)
            #expect(backup.archives.last?.location == nil)
            #expect(backup.lastProgress > 10_000_000, "\(backup.lastProgress)")

            // base.tar: backup_label first, pg_control last, the tablespace as a symlink.
            let baseFiles = backup.files.filter { $0.archive == "base.tar" }
            #expect(baseFiles.first?.path == "backup_label")
            #expect(baseFiles.last?.path == "global/pg_control")
            #expect(backup.symlinks["pg_tblspc/\(database.tablespaceOID)"] == database.tablespaceDirectory.path)
            #expect(backup.directories.contains("pg_wal/archive_status"))
            let labelText = String(decoding: try #require(backup.fileContents["backup_label"]), as: UTF8.self)
            #expect(labelText.contains("LABEL: \(label)\n"))
            #expect(labelText.contains("START WAL LOCATION: \(start.0) "), "\(labelText)")
            #expect(backup.files.contains { $0.archive == oidArchive && $0.path.hasPrefix("PG_15_") })

            // The manifest lists exactly the streamed files, with their sizes and SHA-256.
            let manifest = try ParsedManifest(try #require(backup.manifest))
            #expect(manifest.manifestChecksumValid)
            #expect(manifest.walStart == start.0.description)
            var streamed: [String: RecordedBackup.File] = [:]
            for file in backup.files {
                streamed[RecordedBackup.manifestPath(archive: file.archive, path: file.path)] = file
            }
            #expect(streamed.count == backup.files.count, "no path twice")
            #expect(Set(streamed.keys) == Set(manifest.files.keys),
                    "only streamed: \(Set(streamed.keys).subtracting(manifest.files.keys)); only in manifest: \(Set(manifest.files.keys).subtracting(streamed.keys))")
            for (path, entry) in manifest.files {
                guard let file = streamed[path] else { continue }
                #expect(file.size == entry.size, "\(path)")
                #expect(entry.algorithm == "SHA256", "\(path)")
                #expect(file.sha256 == entry.checksum, "\(path)")
            }
            #expect(backup.files.count > 900, "pgbench plus three databases: \(backup.files.count) files")
            #expect(stream.peakBufferedBytes <= stream.maxBufferedBytes)

            // The connection is free again, for SQL and for another backup.
            #expect(try await connection.identifySystem().systemIdentifier > 0)
            let second = try await record(try connection.baseBackup(options: BaseBackupOptions(manifest: .no)))
            #expect(second.manifest == nil)
            #expect(second.files.count == backup.files.count)
            connection.close()
        }

        @Test("a server error mid-stream is reported as itself and the connection stays usable; TABLESPACE_MAP",
              .timeLimit(.minutes(3)))
        func serverErrorMidStreamAndTablespaceMap() async throws {
            let server = try await PostgresFixture()
            let scratch = try ScratchDirectory(prefix: "tm-tblspc", mode: 0o700, owner: server.user)
            // PostgreSQL's tar headers hold at most 99 bytes of symlink target.
            let location = scratch.child(String(repeating: "l", count: 100))
            try FileManager.default.makeDirectory(location, mode: 0o700, owner: server.user)
            try await server.psql("create tablespace far location \(PostgresFixture.quotedSQL(location))")
            try await server.psql("create table t_far tablespace far as select generate_series(1, 1000) a")
            let oid = try await server.psql("select oid from pg_tablespace where spcname = 'far'")
            let connection = try await ReplicationConnection.connect(conninfo: server.conninfo(), timeout: .seconds(20))

            let failed = try connection.baseBackup(options: BaseBackupOptions(waitForWALArchive: false))
            let error = await #expect(throws: ReplicationError.self) { _ = try await record(failed) }
            #expect(error?.code == .queryFailed, "\(String(describing: error))")
            #expect(error?.message.contains("too long for tar format") == true, "\(String(describing: error))")
            #expect(!connection.isClosed)
            #expect(try await connection.simpleQuery("select 1") == [["1"]], "usable after the server's error")

            let mapped = try await record(try connection.baseBackup(options: BaseBackupOptions(
                waitForWALArchive: false, tablespaceMap: true)))
            let baseFiles = mapped.files.filter { $0.archive == "base.tar" }.map(\.path)
            #expect(Array(baseFiles.prefix(2)) == ["backup_label", "tablespace_map"])
            #expect(mapped.fileContents["tablespace_map"] == Array("\(oid) \(location)\n".utf8))
            // The map replaces the pg_tblspc/<oid> symlink entry; no directory stands in for it.
            #expect(mapped.symlinks.isEmpty)
            #expect(mapped.directories.contains("pg_tblspc") && !mapped.directories.contains("pg_tblspc/\(oid)"))
            #expect(mapped.archives.first?.location == location)
            connection.close()
        }

        @Test("a slow consumer keeps the buffer under its bound and still gets a complete backup",
              .timeLimit(.minutes(5)))
        func slowConsumerHasBoundedMemory() async throws {
            let server = try await PostgresFixture()
            try await server.pgbench(["-i", "-s", "1", "-q"])
            let connection = try await ReplicationConnection.connect(conninfo: server.conninfo(), timeout: .seconds(20))
            let bound = 1 << 20
            let stream = try connection.baseBackup(options: BaseBackupOptions(
                waitForWALArchive: false, manifestChecksums: .none, maxBufferedBytes: bound))
            var eventsSeen = 0
            let backup = try await record(stream) { event in
                eventsSeen += 1
                if eventsSeen == 50 {
                    // Stop consuming until the producer has run into the bound (a busy machine
                    // must not make the check below vacuous).
                    let deadline = ContinuousClock.now + .seconds(20)
                    while stream.bufferedBytes < bound / 2 && ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(10))
                    }
                    try await Task.sleep(for: .milliseconds(200))
                    #expect(stream.bufferedBytes <= bound)
                }
                if eventsSeen % 4 == 0 { try await Task.sleep(for: .milliseconds(2)) }
            }
            #expect(backup.end != nil)
            #expect(backup.maxBufferedSeen <= bound)
            #expect(stream.peakBufferedBytes <= bound, "peak \(stream.peakBufferedBytes)")
            #expect(stream.peakBufferedBytes >= bound / 2, "the consumer was slow enough to fill the buffer: \(stream.peakBufferedBytes)")
            let manifest = try ParsedManifest(try #require(backup.manifest))
            #expect(manifest.files.count == backup.files.count)
            for file in backup.files {
                #expect(manifest.files[RecordedBackup.manifestPath(archive: file.archive, path: file.path)]?.size == file.size)
            }
            connection.close()
        }
    }
}

extension PostgresFixture {
    /// A SQL string literal.
    static func quotedSQL(_ value: String) -> String {
        "'" + value.replacing("'", with: "''") + "'"
    }
}
