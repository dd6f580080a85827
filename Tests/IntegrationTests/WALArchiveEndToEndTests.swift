import Foundation
import Testing
import TidemarkTesting

extension PostgreSQLIntegration {
    /// PostgreSQL 15 archives through `tidemark wal-push`; every segment comes back through
    /// `tidemark wal-fetch` exactly as PostgreSQL wrote it.
    @Suite("WAL archive end to end", .tags(.walArchive))
    struct WALArchiveEndToEndTests {
        static let minimumSegments = 20

        @Test("archive_command archives ≥ 20 segments; wal-fetch returns each one byte for byte",
              .timeLimit(.minutes(20)))
        func archiveAndFetchEverySegment() async throws {
            let user = try SystemUser.serverUser()
            let scratch = try ScratchDirectory(prefix: "tidemark-it-archive", mode: 0o755)
            let binary = try TidemarkBinary.install()
            let (repository, tidemark) = try await initializedRepository(in: scratch, binary: binary, user: user)
            let repositoryMode = try FileManager.default.attributesOfItem(atPath: repository.directory)[.posixPermissions] as? NSNumber
            #expect(repositoryMode?.intValue == 0o700, "repository directory mode after init")

            let server = try await PostgresFixture(
                PostgresFixture.Options(
                    configuration: [
                        "archive_mode = on",
                        "archive_command = "
                            + ShellQuoting.configString(ShellQuoting.quote(binary.path) + " wal-push %p"),
                        "wal_level = replica",
                        "max_wal_size = '64MB'",
                        "min_wal_size = '32MB'",
                        // Keep every segment in pg_wal so PostgreSQL's own copy can be compared.
                        "wal_keep_size = '1GB'",
                    ],
                    environment: repository.environment))
            defer { server.stop() }

            try await server.pgbench(["-i", "-q", "-s", "10"])
            try await server.pgbench(["-c", "2", "-j", "2", "-T", "5"])
            var lastSwitched = try await server.switchWAL()
            var status = try await server.waitUntilArchived(lastSwitched, timeout: .seconds(600))
            while status.archivedCount < Self.minimumSegments {
                lastSwitched = try await server.switchWAL()
                status = try await server.waitUntilArchived(lastSwitched, timeout: .seconds(120))
            }
            #expect(status.failedCount == 0, "archive_command failed: \(status)\n\(server.serverLog())")
            #expect(status.archivedCount >= Self.minimumSegments, "\(status)")

            // What the repository says it holds.
            let info = try await InfoJSON.read(with: tidemark)
            let stanza = try info.stanza("main")
            #expect(stanza.systemIdentifier == (try await server.systemIdentifier()))
            #expect(stanza.walSegmentSize == 16 * 1024 * 1024)
            let timeline = try #require(stanza.wal.timelines.first { $0.timeline == 1 }, "no timeline 1 in \(stanza.wal)")
            #expect(stanza.wal.timelines.count == 1)
            #expect(timeline.gaps.isEmpty, "gaps in the archive: \(timeline.gaps)")
            #expect(timeline.last >= lastSwitched, "info's last segment \(timeline.last) is before the last archived \(lastSwitched)")
            let archived = try WALNames.range(from: timeline.first, through: timeline.last)
            #expect(timeline.segments == archived.count, "timeline segment count vs first...last")
            #expect(stanza.wal.segments == archived.count)
            #expect(stanza.wal.storedBytes > 0)

            // PostgreSQL's own copies: every segment it has marked archived (.done).
            let done = try server.archivedSegmentsInWALDirectory()
            #expect(done.count >= Self.minimumSegments, "only \(done.count) .done segments in pg_wal")
            let missing = Set(done).subtracting(archived)
            #expect(missing.isEmpty, "PostgreSQL marked these archived but info does not list them: \(missing.sorted())")

            let fetchDirectory = scratch.child("fetched")
            try FileManager.default.makeDirectory(fetchDirectory, mode: 0o700, owner: user)
            var compared = 0
            for name in archived {
                let destination = fetchDirectory + "/" + name
                let fetch = try await tidemark.run("wal-fetch", name, destination)
                #expect(fetch.exitCode == 0, "wal-fetch \(name): \(fetch)")
                guard fetch.exitCode == 0 else { continue }
                let size = try FileManager.default.attributesOfItem(atPath: destination)[.size] as? NSNumber
                #expect(size?.intValue == 16 * 1024 * 1024, "\(name) fetched as \(size.map { "\($0)" } ?? "?") bytes")
                if done.contains(name) {
                    if try expectSameBytes(destination, server.walDirectory + "/" + name, "segment \(name)") {
                        compared += 1
                    }
                }
                try FileManager.default.removeItem(atPath: destination)
            }
            print("archive end to end: \(status); info lists \(archived.count) segments \(timeline.first)...\(timeline.last), \(stanza.wal.storedBytes) bytes stored; \(compared) compared byte for byte with pg_wal")
            #expect(compared >= Self.minimumSegments, "only \(compared) segments compared byte for byte")
            #expect(compared == done.count)

            // A name PostgreSQL will ask for during recovery but that was never archived.
            for name in [try WALNames.next(after: timeline.last), "0000000100000010000000AB", "00000002000000000000000A"] {
                let destination = fetchDirectory + "/" + name
                let fetch = try await tidemark.run("wal-fetch", name, destination)
                #expect(fetch.exitCode == 1, "wal-fetch of never-archived \(name): \(fetch)")
                #expect(isQuiet(fetch.stderrText), "not archived must be quiet: \(fetch.stderrText)")
                #expect(!FileManager.default.fileExists(atPath: destination), "wal-fetch \(name) created \(destination)")
            }

            // The wrong key: recovery must stop (≥ 126), archiving must fail within 1...125.
            let wrongKeyFile = scratch.child("wrong.key")
            try RepositoryFixture.writeKey(to: wrongKeyFile, owner: user)
            let wrongKeyText = String(decoding: try FileManager.default.readFile(wrongKeyFile), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let wrongKey = tidemark.with(environment: ["BACKUP_ENCRYPTION_KEY_FILE": wrongKeyFile])
            let sample = try #require(done.last)
            let destination = fetchDirectory + "/" + sample
            let fetch = try await wrongKey.run("wal-fetch", sample, destination)
            #expect(fetch.exitCode >= 126, "wal-fetch with the wrong key: \(fetch)")
            #expect(!fetch.stderrText.isEmpty, "a wrong key must be explained on stderr")
            #expect(!fetch.stderrText.contains(wrongKeyText) && !fetch.stdoutText.contains(wrongKeyText), "the key was printed")
            #expect(!FileManager.default.fileExists(atPath: destination), "wal-fetch with the wrong key created \(destination)")
            // As PostgreSQL runs it (in the data directory, %p relative): the archiver that
            // the server's own pushes autostarted holds the right key and must not answer durable.
            let push = try await wrongKey.run("wal-push", "pg_wal/" + sample, currentDirectory: server.dataDirectory)
            #expect((1...125).contains(push.exitCode), "wal-push with the wrong key: \(push)")

            // Still no archiving failures after all that, and the right key still works.
            #expect(try await server.archiverStatus().failedCount == 0)
            let again = try await tidemark.run("wal-fetch", sample, destination)
            #expect(again.exitCode == 0, "\(again)")
            if again.exitCode == 0 { try expectSameBytes(destination, server.walDirectory + "/" + sample) }
        }
    }
}
