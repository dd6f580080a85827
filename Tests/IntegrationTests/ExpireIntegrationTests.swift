import Foundation
import Testing
import TidemarkTesting

extension PostgreSQLIntegration {
    /// `tidemark expire` against a real PostgreSQL 15 with a small policy (daily 1, PITR 0 days,
    /// one full chain): the preview writes nothing, the run frees exactly what it says, and what
    /// is kept still restores exactly.
    @Suite("Expire: end to end", .tags(.large))
    struct ExpireIntegrationTests {
        @Test("expire: dry-run writes nothing, the run frees what it says, kept backups and the window restore exactly, --apply",
              .timeLimit(.minutes(10)))
        func expireEndToEnd() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-it-expire", configuration: ["track_commit_timestamp = on"])
            defer { cluster.stop() }
            let server = cluster.server
            try await server.psql("create table pitr (id int primary key, note text)")
            var all = try await cluster.commitRows([1, 2])
            let a = try await cluster.backup("full").0.id
            all += try await cluster.commitRows([10, 11, 12])
            _ = try await server.switchWAL()
            let a1 = try await cluster.backup("incremental").0
            all += try await cluster.commitRows([20, 21, 22])
            _ = try await server.switchWAL()
            let b = try await cluster.backup("full").0
            let rowsAtB = try await cluster.currentRows()
            all += try await cluster.commitRows([30, 31, 32])
            _ = try await server.switchWAL()
            let b1 = try await cluster.backup("incremental").0
            let rowsAtB1 = try await cluster.currentRows()
            let late = try await cluster.commitRows([40, 41, 42, 43, 44, 45], pause: .milliseconds(60))
            all += late
            try await cluster.archiveEverything()
            #expect(a1.parent == a && b1.parent == b.id, "incrementals: \(a1) \(b1)")
            let day = String(b1.stopTime.prefix(10))

            // Between A's end and B's start (row 10 committed after A, row 11 before A1): reachable now.
            let middle = postgresTime(all[2].micros + (all[3].micros - all[2].micros) / 2)
            #expect(try await cluster.plan(["--target-time", middle]).0 == 0, "before expire, \(middle) is reachable")

            // 1. The preview: the plan, and not one byte changed.
            let repoRoot = cluster.repository.directory
            let before = try RepositorySnapshot(of: repoRoot)
            let (dryCode, dry, dryRun) = try await cluster.expire(["--dry-run"])
            try #require(dryCode == 0, "expire --dry-run: \(dryRun)")
            let planned = try #require(dry?.repositories.first, "expire --dry-run --json: \(dryRun.stdoutText)")
            let afterDry = try RepositorySnapshot(of: repoRoot)
            #expect(before == afterDry, "expire --dry-run changed the repository: \(before.differences(to: afterDry))")
            #expect(dry?.dryRun == true && planned.hold == nil && planned.error == nil, "\(dryRun.stdoutText)")
            for id in [a, a1.id] {
                #expect(planned.backup(id)?.keep == false && planned.backup(id)?.reasons == ["no rule keeps it"],
                        "\(id) is deleted: \(String(describing: planned.backup(id)))")
            }
            #expect(planned.backup(b.id)?.keep == true
                    && Set(planned.backup(b.id)?.reasons ?? []) == ["newest full chain", "parent of \(b1.id)"],
                    "\(b.id): \(String(describing: planned.backup(b.id)))")
            #expect(planned.backup(b1.id)?.keep == true
                    && Set(planned.backup(b1.id)?.reasons ?? []) == ["daily \(day)", "newest full chain", "pitr window"],
                    "\(b1.id): \(String(describing: planned.backup(b1.id)))")
            #expect(planned.backupsDeleted == 2 && !planned.walDeleted.isEmpty, "\(dryRun.stdoutText)")

            // 2. The run, through --apply with the preview's hash (nothing changed since).
            let segmentsBefore = cluster.archivedSegments()
            let (code, ran, run) = try await cluster.expire(["--apply", try #require(dry?.planHash)])
            try #require(code == 0, "expire --apply \(dry?.planHash ?? ""): \(run)")
            let done = try #require(ran?.repositories.first, "expire --json: \(run.stdoutText)")
            let after = try RepositorySnapshot(of: repoRoot)
            #expect(ran?.planHash == dry?.planHash && done.backupsDeleted == 2 && done.error == nil, "\(run.stdoutText)")
            // The stanza lock's lease objects (main/lock/<generation>: the run replaces the last
            // holder's lease by its own) are not freed space: they are left out of both sides.
            let notLock = { (path: String) in !path.hasPrefix("main/lock/") }
            let gone = afterDry.files.subtracting(after.files).filter(notLock)
            let appeared = after.files.subtracting(afterDry.files)
            let changed = afterDry.files.intersection(after.files).filter { afterDry.entries[$0] != after.entries[$0] }
            #expect(appeared.filter(notLock).isEmpty && changed.filter(notLock).isEmpty,
                    "expire wrote something besides its lock: new \(appeared.sorted()), changed \(changed.sorted())")
            let drop = afterDry.fileBytes(where: notLock) - after.fileBytes(where: notLock)
            #expect(done.bytesFreed == drop, "bytesFreed \(done.bytesFreed), the repository shrank by \(drop) bytes")
            #expect(done.objectsDeleted == gone.count, "objectsDeleted \(done.objectsDeleted), \(gone.count) files gone: \(gone.sorted())")
            #expect(!FileManager.default.fileExists(atPath: repoRoot + "/main/backup/" + a)
                    && !FileManager.default.fileExists(atPath: repoRoot + "/main/backup/" + a1.id), "deleted backups' directories are gone")
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: repoRoot + "/main/deleting")) ?? []).isEmpty, "no mark is left")

            // Deleted WAL is gone, every segment it names existed; history files all remain.
            let segmentsAfter = cluster.archivedSegments()
            for range in done.walDeleted {
                #expect(segments(segmentsBefore, in: range).count == range.segments, "range \(range.from)...\(range.to) had \(range.segments) segments")
                #expect(segments(segmentsAfter, in: range).isEmpty, "range \(range.from)...\(range.to) still has \(segments(segmentsAfter, in: range).sorted())")
            }
            #expect(done.segmentsDeleted == done.walDeleted.reduce(0) { $0 + $1.segments })
            #expect(segmentsBefore.subtracting(segmentsAfter).count == done.segmentsDeleted)
            let histories = afterDry.files.filter { $0.hasSuffix(".history") }
            #expect(histories.isSubset(of: after.files), "history files removed: \(histories.subtracting(after.files).sorted())")

            // What is listed is what was kept, and each restores exactly.
            #expect(try await cluster.list().backups.map(\.id).sorted() == [b.id, b1.id].sorted())
            #expect(try await cluster.restoredRows(of: b1.id, name: "b1") == rowsAtB1)
            #expect(try await cluster.restoredRows(of: b.id, name: "b") == rowsAtB)

            // PITR to random instants after B1's end, between commits: exactly the rows by then.
            var generator = SeededGenerator.fromEnvironment()
            print("expire PITR instants seed: \(generator.seed) (TIDEMARK_TEST_SEED replays it)")
            for n in 0..<3 {
                let i = Int(generator.next() % UInt64(late.count - 1))
                let gap = late[i + 1].micros - late[i].micros
                let t = late[i].micros + 1 + Int64(generator.next() % UInt64(max(1, gap - 1)))
                let expected = all.filter { $0.micros <= t }.map(\.id).sorted()
                let (ids, restored) = try await cluster.restoreAndRead(["--target-time", postgresTime(t)], name: "pitr-\(n)")
                restored.stop()
                #expect(ids == expected, "restore to \(postgresTime(t)): \(ids), expected \(expected)")
            }

            // Before B, nothing is left: refused, nothing written.
            let (refused, refusal, refusedRun) = try await cluster.plan(["--target-time", middle])
            #expect(refused == 10 && refusal?.reachable == false, "plan --target-time \(middle) after expire: \(refusedRun)")
            let nowhere = cluster.scratch.child("refused")
            let restore = try await ChildProcess.run(cluster.tidemark.command(["restore", "--to", nowhere, "--target-time", middle]))
            #expect(restore.exitCode == 10 && !FileManager.default.fileExists(atPath: nowhere), "restore to \(middle): \(restore)")

            // 3. A plan taken before a new backup no longer applies: exit 6, nothing deleted.
            let (_, stale, staleRun) = try await cluster.expire(["--dry-run"])
            let staleHash = try #require(stale?.planHash, "\(staleRun)")
            let c = try await cluster.backup("full").0.id
            let beforeStale = try RepositorySnapshot(of: repoRoot)
            let (staleCode, _, refusedApply) = try await cluster.expire(["--apply", staleHash])
            #expect(staleCode == 6 && refusedApply.stderrText.contains(staleHash), "expire --apply of a stale hash: \(refusedApply)")
            let afterStale = try RepositorySnapshot(of: repoRoot)
            #expect(beforeStale.files.filter(notLock) == afterStale.files.filter(notLock),
                    "a refused --apply deleted: \(beforeStale.files.subtracting(afterStale.files).sorted())")
            #expect(try await cluster.list().backups.map(\.id).sorted() == [b.id, b1.id, c].sorted())
        }
    }
}
