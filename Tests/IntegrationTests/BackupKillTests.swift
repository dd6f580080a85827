import Foundation
import Testing
import Tidemark
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCore

extension PostgreSQLIntegration {
    /// A backup killed half-way (SIGKILL: no chance to clean up) never looks complete, and the
    /// next backup cleans up after it, succeeds and restores.
    @Suite("Backup: killed half-way")
    struct BackupKillTests {
        /// Kill once this many bytes of the backup are in the repository...
        static let killAfterBytes: Int64 = 12 << 20
        /// ...or after this long, whichever comes first.
        static let killAfter = Duration.seconds(20)

        @Test("SIGKILL during a full backup leaves no complete-looking backup; the next backup succeeds and restores",
              .timeLimit(.minutes(15)))
        func killedBackupNeverLooksComplete() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-bk-kill")
            defer { cluster.stop() }
            let server = cluster.server
            let tables = BackupRestoreIntegrationTests.pgbenchTables
            try await server.pgbench(["-i", "-q", "-s", "20"])

            let child = try ChildProcess(launching: cluster.tidemark.command(["backup", "--type", "full", "--label", "to be killed"]))
            let launched = ContinuousClock.now
            var storedAtKill: Int64 = 0
            while ContinuousClock.now - launched < Self.killAfter {
                storedAtKill = cluster.backupBytesInRepository()
                if storedAtKill >= Self.killAfterBytes { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            let killedAfter = ContinuousClock.now - launched
            child.send(SIGKILL)
            let killed = try await child.wait()
            print("killed the backup after \(killedAfter) with \(storedAtKill) bytes in the repository: \(killed.signal.map { "signal \($0)" } ?? "exit \(killed.exitCode)")")
            try #require(killed.signal == SIGKILL, "the backup finished before it could be killed (make the database bigger): \(killed)")
            #expect(storedAtKill >= Self.killAfterBytes, "the backup had written only \(storedAtKill) bytes after \(Self.killAfter)")

            // Nothing complete-looking: list shows no backup, restore finds none.
            let afterKill = try await cluster.list().backups
            #expect(afterKill.isEmpty, "a killed backup is listed: \(afterKill.map(\.id))")
            let leftovers = cluster.backupDirectoriesInRepository()
            print("left in the repository by the killed backup: \(leftovers), \(cluster.backupBytesInRepository()) bytes")
            let refused = try await cluster.tidemark.run("restore", "--to", cluster.scratch.child("from-killed"), "--target-immediate")
            #expect(refused.exitCode != 0, "restore found something to restore after the kill: \(refused)")
            #expect(!FileManager.default.fileExists(atPath: cluster.scratch.child("from-killed") + "/global/pg_control"))

            // The next backup takes over the stale lock, removes the leftovers and succeeds.
            try await server.pgbench(["-c", "2", "-j", "2", "-t", "200", "-n"])
            let expected = try await rowDigests(tables, psql: { try await server.psql($0) })
            let (next, nextRun) = try await cluster.backup("full", label: "after the kill")
            print("backup after the kill: \(nextRun.duration), stderr: \(nextRun.stderrText)")
            if !leftovers.isEmpty {
                #expect(nextRun.stderrText.contains("removed incomplete backup"), "no notice about the cleanup: \(nextRun.stderrText)")
            }
            #expect(try await cluster.list().backups.map(\.id) == [next.id])
            let leaseDirectory = cluster.repository.directory + "/main/lock"
            let leases = try FileManager.default.contentsOfDirectory(atPath: leaseDirectory)
            #expect(leases.count == 1, "\(leases)")
            for name in leases {
                let record = try JSONDecoder().decode(LeaseRecord.self, from: try Data(contentsOf: URL(fileURLWithPath: leaseDirectory + "/" + name)))
                #expect(record.released, "the backup lock is still held after a successful backup: \(record)")
            }

            // An incremental on top of it works too (its parent is the new full, not the debris).
            let (incremental, incrementalRun) = try await cluster.backup("incremental")
            #expect(incremental.parent == next.id, "\(incremental)")

            // Cleaned up means gone: no directory, no bytes, no notice on every later backup.
            let remaining = cluster.backupDirectoriesInRepository()
            let debris = remaining.filter { $0 != next.id && $0 != incremental.id }
            let debrisFiles = debris.flatMap { id in
                ((try? FileManager.default.contentsOfDirectory(atPath: cluster.repository.directory + "/main/backup/" + id)) ?? [])
                    .map { id + "/" + $0 }
            }
            print("after the next backups, left of the killed backup: \(debrisFiles)")
            #expect(debris.isEmpty, "the killed backup's directory is still there: \(debrisFiles)")
            #expect(!incrementalRun.stderrText.contains("removed incomplete backup"),
                    "the second backup after the kill removes the same debris again: \(incrementalRun.stderrText)")

            let target = cluster.scratch.child("restored")
            try await cluster.restore(next.id, to: target)
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
