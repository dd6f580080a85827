import Foundation
import Testing
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

extension PostgreSQLIntegration {
    /// `files backup` killed with SIGKILL at random moments (no chance to clean up): what
    /// `files list` shows still restores byte for byte, and the next backup takes over the dead
    /// holder's lock at once (same host, process gone: docs/locking.md), succeeds and restores.
    /// Nested here so its timing is not shared with a PostgreSQL test.
    @Suite("Files: killed half-way")
    struct FilesKillTests {
        /// Rounds until this many backups were killed (a backup that finishes before its kill is
        /// checked as a finished one, and the next delays are drawn from its duration)...
        static let kills = 5
        /// ...but at most this many rounds.
        static let maxRounds = 8

        /// About 26 MiB: large random files (packs of new chunks to write) and many small text
        /// files (trees and index entries), a symlink and a hard link.
        static func populate(_ f: FilesFixture) throws {
            for i in 0..<5 { try f.write("media/video-\(i).bin", try FilesFixture.random(4 << 20)) }
            for i in 0..<300 {
                try f.write("diary/\(i % 12)/entry-\(i).txt", Data(String(repeating: "note \(i) ", count: 200 + i * 7).utf8))
            }
            try FileManager.default.createSymbolicLink(atPath: f.uploads + "/latest", withDestinationPath: "diary/0/entry-0.txt")
            try FileManager.default.linkItem(atPath: f.uploads + "/media/video-0.bin", toPath: f.uploads + "/media/video-0-copy.bin")
        }

        /// New content for the next backup to store: one large file rewritten, one added, some
        /// small ones changed.
        static func change(_ f: FilesFixture, round: Int) throws {
            try f.write("media/video-\(1 + round % 4).bin", try FilesFixture.random(4 << 20))
            try f.write("media/new-\(round).bin", try FilesFixture.random(3 << 20))
            for i in stride(from: round, to: 300, by: 25) {
                try f.write("diary/\(i % 12)/entry-\(i).txt", Data(String(repeating: "round \(round) note \(i) ", count: 150).utf8))
            }
        }

        @Test("SIGKILL at random points of files backup: every listed snapshot restores, the next backup succeeds and restores",
              .timeLimit(.minutes(15)))
        func killedFilesBackup() async throws {
            let f = try await FilesFixture(prefix: "tm-it-files-kill")
            try Self.populate(f)
            var expected: [String: [String]] = [:]

            // An uninterrupted full backup: the baseline snapshot and how long one takes.
            let manifest0 = try await TreeManifest.of(f.uploads)
            let first = try await f.tidemark.run("files", "backup", "--type", "full")
            try #require(first.exitCode == 0, "\(first)")
            // Kill delays are drawn from how long a full backup takes now (the machine's load
            // changes while the suite runs): the first one, then any that finished before its kill.
            var duration = first.duration
            print("full files backup of the tree: \(duration)")
            let snapshots0 = try await f.list()
            try #require(snapshots0.count == 1)
            expected[snapshots0[0].id] = manifest0

            var generator = SeededGenerator.fromEnvironment()
            print("files kill delays seed: \(generator.seed) (TIDEMARK_TEST_SEED replays it)")
            var killed = 0
            var round = 0
            while killed < Self.kills && round < Self.maxRounds {
                defer { round += 1 }
                try Self.change(f, round: round)
                let manifest = try await TreeManifest.of(f.uploads)
                // A random point of the backup, from its start to its last writes (index pages,
                // the snapshot): a backup that finished first is checked as a finished one.
                let fraction = 0.02 + Double(generator.next() % 1000) / 1000 * 0.93
                let delay = duration * fraction
                let child = try f.tidemark.launch("files", "backup", "--type", "full", "--label", "round \(round)")
                try await Task.sleep(for: delay)
                child.send(SIGKILL)
                let ended = try await child.wait()
                print("round \(round): SIGKILL after \(delay): \(ended.signal.map { "signal \($0)" } ?? "exit \(ended.exitCode)")")
                let before = Set(expected.keys)
                if ended.signal == SIGKILL {
                    killed += 1
                } else {
                    // It finished first: then its snapshot is listed and must hold this tree.
                    try #require(ended.exitCode == 0, "\(ended)")
                    duration = ended.duration
                }

                // Every listed snapshot restores, byte for byte what was backed up.
                var listed = try await f.list()
                let fresh = listed.filter { !before.contains($0.id) }
                #expect(ended.signal == SIGKILL ? fresh.isEmpty : fresh.count == 1,
                        "round \(round): snapshots after the kill: \(fresh.map { ($0.id, $0.label ?? "") })")
                for s in fresh { expected[s.id] = manifest }
                for s in listed {
                    let got = try await f.restoredManifest(s.id, name: "restore-\(round)-\(s.id)")
                    let want = try #require(expected[s.id], "snapshot \(s.id) was never backed up by this test")
                    #expect(got == want, "round \(round): snapshot \(s.id) restores differently:\n\(TreeManifest.difference(want, got))")
                }

                // The next backup takes the dead holder's lock over, succeeds and restores.
                let next = try await f.tidemark.run("files", "backup")
                try #require(next.exitCode == 0, "round \(round): files backup after the kill: \(next)")
                listed = try await f.list()
                let added = listed.filter { expected[$0.id] == nil }
                try #require(added.count == 1, "round \(round): \(added.map(\.id))")
                #expect(next.stdoutText.contains(added[0].id), "\(next.stdoutText)")
                expected[added[0].id] = manifest
                let got = try await f.restoredManifest(added[0].id, name: "next-\(round)")
                #expect(got == manifest, "round \(round): the backup after the kill restores differently:\n\(TreeManifest.difference(manifest, got))")
            }
            print("killed \(killed) of \(round) file backups")
            #expect(killed >= Self.kills, "the backups finished before the kill: make the tree larger")

            // The lease of the last backup is released: nothing holds the stanza.
            let leaseDirectory = f.repository.directory + "/main/lock"
            for name in try FileManager.default.contentsOfDirectory(atPath: leaseDirectory) {
                let record = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: leaseDirectory + "/" + name))) as? [String: Any]
                #expect(record?["released"] as? Bool == true, "\(name): \(String(describing: record))")
            }
        }
    }
}
