import Foundation
import Testing
import TidemarkTesting

extension PostgreSQLIntegration {
    /// PostgreSQL retries `archive_command` after crashes, so the same segment arrives more than
    /// once; different bytes under an archived name mean two writers and must never overwrite.
    @Suite("wal-push re-push semantics", .tags(.walArchive))
    struct WALRePushTests {
        @Test("same content twice succeeds; different content under the same name is refused and changes nothing",
              .timeLimit(.minutes(10)))
        func rePushSemantics() async throws {
            let user = try SystemUser.serverUser()
            let scratch = try ScratchDirectory(prefix: "tidemark-it-repush", mode: 0o755)
            let segmentDirectory = scratch.child("segments")
            try FileManager.default.makeDirectory(segmentDirectory, mode: 0o755, owner: user)
            let segments = try await WALSamples.generate(count: 4, scale: 1, into: segmentDirectory, owner: user).paths
            try #require(segments.count >= 4)
            let binary = try TidemarkBinary.install()
            let (_, tidemark) = try await initializedRepository(in: scratch, binary: binary, user: user)
            let fetchDirectory = scratch.child("fetched")
            try FileManager.default.makeDirectory(fetchDirectory, mode: 0o700, owner: user)

            let original = segments[1]
            let name = baseName(original)
            let first = try await tidemark.run("wal-push", original)
            #expect(first.exitCode == 0, "\(first)")
            let second = try await tidemark.run("wal-push", original)
            #expect(second.exitCode == 0, "pushing the same segment again must succeed: \(second)")

            // Same name, one byte different after the 40-byte long page header.
            let modifiedDirectory = scratch.child("modified")
            try FileManager.default.makeDirectory(modifiedDirectory, mode: 0o755, owner: user)
            let modified = modifiedDirectory + "/" + name
            var bytes = try FileManager.default.readFile(original)
            let offset = 1_000
            bytes[offset] ^= 0xFF
            try FileManager.default.writeFile(modified, bytes, mode: 0o644, owner: user)
            let originalDigest = try await FileDigest.sha256(original)
            let modifiedDigest = try await FileDigest.sha256(modified)
            try #require(originalDigest != modifiedDigest)

            let conflict = try await tidemark.run("wal-push", modified)
            #expect((1...125).contains(conflict.exitCode), "different content under an archived name: \(conflict)")
            #expect(conflict.exitCode == 6, "exit code 6 (conflict) is documented for this: \(conflict)")
            let stderr = conflict.stderrText.lowercased()
            #expect(stderr.contains(originalDigest), "stderr should name the archived SHA-256 \(originalDigest): \(conflict.stderrText)")
            #expect(stderr.contains(modifiedDigest), "stderr should name the new file's SHA-256 \(modifiedDigest): \(conflict.stderrText)")

            let destination = fetchDirectory + "/" + name
            let fetch = try await tidemark.run("wal-fetch", name, destination)
            #expect(fetch.exitCode == 0, "\(fetch)")
            if fetch.exitCode == 0 { try expectSameBytes(destination, original, "the conflicting push changed the archive") }
            try FileManager.default.removeItem(atPath: destination)
            let afterConflict = try await tidemark.run("wal-push", original)
            #expect(afterConflict.exitCode == 0, "the original still re-pushes cleanly: \(afterConflict)")

            // archive_command may hand over a relative path (relative to the server's cwd).
            let relativeName = baseName(segments[2])
            let relative = try await ChildProcess.run(
                tidemark.command(["wal-push", relativeName], currentDirectory: segmentDirectory))
            #expect(relative.exitCode == 0, "wal-push of a path relative to the working directory: \(relative)")
            let relativeFetch = try await tidemark.run("wal-fetch", relativeName, fetchDirectory + "/" + relativeName)
            #expect(relativeFetch.exitCode == 0, "\(relativeFetch)")
            if relativeFetch.exitCode == 0 { try expectSameBytes(fetchDirectory + "/" + relativeName, segments[2]) }

            let info = try await InfoJSON.read(with: tidemark)
            #expect(try info.stanza("main").wal.segments == 2, "segments \(name), \(relativeName)")
        }

        @Test("concurrent pushes of one segment all succeed and store one copy", .timeLimit(.minutes(10)))
        func concurrentPushesOfOneSegment() async throws {
            let user = try SystemUser.serverUser()
            let scratch = try ScratchDirectory(prefix: "tidemark-it-race", mode: 0o755)
            let segmentDirectory = scratch.child("segments")
            try FileManager.default.makeDirectory(segmentDirectory, mode: 0o755, owner: user)
            let segments = try await WALSamples.generate(count: 4, scale: 1, into: segmentDirectory, owner: user).paths
            let binary = try TidemarkBinary.install()
            let (_, tidemark) = try await initializedRepository(in: scratch, binary: binary, user: user)
            let fetchDirectory = scratch.child("fetched")
            try FileManager.default.makeDirectory(fetchDirectory, mode: 0o700, owner: user)
            // Establish the stanza first, so the race is about the segment object alone.
            let seed = try await tidemark.run("wal-push", segments[0])
            try #require(seed.exitCode == 0, "\(seed)")

            // A retry racing a slow first attempt, or two archivers sharing a repository.
            for raced in segments.dropFirst() {
                let racers = try (0..<4).map { _ in try tidemark.launch("wal-push", raced) }
                for racer in racers {
                    let result = try await racer.wait()
                    #expect(result.exitCode == 0, "concurrent push of the same segment: \(result)")
                }
                let name = baseName(raced)
                let fetch = try await tidemark.run("wal-fetch", name, fetchDirectory + "/" + name)
                #expect(fetch.exitCode == 0, "\(fetch)")
                if fetch.exitCode == 0 { try expectSameBytes(fetchDirectory + "/" + name, raced) }
            }
            let info = try await InfoJSON.read(with: tidemark)
            #expect(try info.stanza("main").wal.segments == segments.count)
        }
    }
}
