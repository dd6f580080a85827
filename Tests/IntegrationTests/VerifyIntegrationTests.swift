import Foundation
import Testing
import TidemarkTesting

extension PostgreSQLIntegration {
    /// `tidemark verify` against a real repository of a real PostgreSQL 15: clean, then one
    /// damage at a time — each found, named, exit 12 — and undone.
    @Suite("Verify: every damage found and named, windows as plan sees them", .tags(.large))
    struct VerifyIntegrationTests {
        @Test("a clean repository verifies; a deleted segment, a flipped byte, a truncated catalog, a foreign segment and a missing .history are each found, exit 12",
              .timeLimit(.minutes(10)))
        func damageIsFound() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-it-verify", configuration: ["track_commit_timestamp = on"])
            defer { cluster.stop() }
            let server = cluster.server
            try await server.psql("create table pitr (id int primary key, note text)")
            _ = try await cluster.commitRows([1])
            let (f1, _) = try await cluster.backup("full")
            // Rows 2…5, each in a segment of its own.
            var rows: [Int: CommittedRow] = [:]
            var segmentOf: [Int: String] = [:]
            for id in 2...5 {
                rows[id] = try await cluster.commitRows([id])[0]
                segmentOf[id] = try await server.psql("select pg_walfile_name(pg_current_wal_insert_lsn())")
                try await cluster.archiveEverything()
            }
            let (f2, _) = try await cluster.backup("full")
            rows[6] = try await cluster.commitRows([6])[0]
            try await cluster.archiveEverything()
            let scratch = cluster.scratch

            // Clean: exit 0, one window on timeline 1 from the oldest backup.
            let (code, clean, run) = try await cluster.verify()
            try #require(code == 0, "verify of a clean repository: \(run)")
            let report = try #require(clean?.only, "\(run.stdoutText)")
            #expect(report.status == "ok" && report.problems.isEmpty && report.gaps.isEmpty, "\(run.stdoutText)")
            #expect(report.windows.count == 1 && report.windows.first?.backup == f1.id && report.windows.first?.timeline == 1, "\(run.stdoutText)")
            #expect(report.backupsChecked == 2 && report.segmentsChecked >= 6, "\(run.stdoutText)")
            // Nothing new: the second run reads only its sample.
            let (code2, second, run2) = try await cluster.verify(["--sample-percent", "0"])
            #expect(code2 == 0 && second?.only?.objectsRead == 0 && (second?.only?.knownObjects ?? 0) == report.objectsListed,
                    "a second run with nothing new: \(run2.stdoutText)")

            // 1. A segment in the middle: a gap, the instants it costs, and what plan says of them.
            let missing = try #require(segmentOf[4])
            let segment = try SetAside(cluster.segmentPath(missing), in: scratch)
            try FileManager.default.removeItem(atPath: segment.path)
            let (gapCode, gapped, gapRun) = try await cluster.verify()
            #expect(gapCode == 12, "a deleted segment: \(gapRun)")
            let gapReport = try #require(gapped?.only, "\(gapRun.stdoutText)")
            let gap = try #require(gapReport.gaps.first, "no gap reported: \(gapRun.stdoutText)")
            #expect(gapReport.gaps.count == 1 && gap.from == missing && gap.to == missing && gap.segments == 1 && gap.breaks.isEmpty,
                    "\(gapRun.stdoutText)")
            #expect(gapReport.problems.contains { $0.kind == "gap" && $0.message.contains(missing) && $0.hint.contains("--repair") },
                    "\(gapRun.stdoutText)")
            try #require(gapReport.windows.count == 2, "two windows around the gap: \(gapRun.stdoutText)")
            let (before, after) = (gapReport.windows[0], gapReport.windows[1])
            let row3 = try #require(rows[3]), row4 = try #require(rows[4]), row6 = try #require(rows[6])
            #expect(before.backup == f1.id && after.backup == f2.id, "\(gapRun.stdoutText)")
            #expect(try unixMicros(before.to) == row3.micros, "the window before the gap ends at the last commit before it: \(before.to) vs \(row3.committed)")
            #expect(gap.window.count == 2 && gap.window[0] == before.to && gap.window[1] == after.from, "the gap's window: \(gap.window)")
            // Inside each window plan reaches; inside the gap's window it does not.
            let inBefore = postgresTime((try unixMicros(before.from) + row3.micros) / 2)
            let inGap = postgresTime((row3.micros + row4.micros) / 2)
            let inAfter = postgresTime((try unixMicros(after.from) + row6.micros) / 2)
            for (time, expected) in [(inBefore, Int32(0)), (inGap, 10), (inAfter, 0)] {
                let (planCode, _, planRun) = try await cluster.plan(["--target-time", time])
                #expect(planCode == expected, "plan --target-time \(time) (windows \(gapReport.windows)): \(planRun)")
            }
            try segment.restore()
            let (healed, _, healedRun) = try await cluster.verify()
            #expect(healed == 0, "after the segment is back: \(healedRun)")

            // 1b. The segment a backup needs to become consistent: the backup is broken.
            let stop = segmentName(holding: f2.stopLSN)
            let stopSegment = try SetAside(cluster.segmentPath(stop), in: scratch)
            try FileManager.default.removeItem(atPath: stopSegment.path)
            let (brokenCode, broken, brokenRun) = try await cluster.verify()
            #expect(brokenCode == 12 && broken?.only?.gaps.first { $0.from == stop }?.breaks == [f2.id], "\(brokenRun.stdoutText)")
            #expect(broken?.only?.problems.contains { $0.kind == "backup" && $0.object == f2.id && $0.message.contains("\(stop) it needs to become consistent") } == true,
                    "\(brokenRun.stdoutText)")
            try stopSegment.restore()

            // 2. A flipped byte in a backup's pack: the sample finds it (here: all of them).
            let pack = cluster.repository.directory + "/main/backup/\(f2.id)/pack-00001"
            let packCopy = try SetAside(pack, in: scratch)
            try flipByte(in: pack, at: (try fileSize(pack)) / 2)
            let (flipCode, flipped, flipRun) = try await cluster.verify(["--sample-percent", "100"])
            #expect(flipCode == 12, "a flipped byte in \(pack): \(flipRun)")
            #expect(flipped?.only?.problems.contains { $0.kind == "damaged" && $0.object == "main/backup/\(f2.id)/pack-00001" } == true, "\(flipRun.stdoutText)")
            #expect(flipped?.only?.problems.contains { $0.kind == "backup" && $0.object == f2.id && $0.hint.contains("full") } == true, "\(flipRun.stdoutText)")
            try packCopy.restore()

            // 3. A truncated catalog.
            let catalog = cluster.repository.directory + "/main/backup/\(f1.id)/catalog"
            let catalogCopy = try SetAside(catalog, in: scratch)
            try truncate(catalog, to: (try fileSize(catalog)) - 100)
            let (cutCode, cut, cutRun) = try await cluster.verify()
            #expect(cutCode == 12, "a truncated catalog: \(cutRun)")
            #expect(cut?.only?.problems.contains { $0.kind == "damaged" && $0.object == "main/backup/\(f1.id)/catalog" } == true, "\(cutRun.stdoutText)")
            try catalogCopy.restore()

            // 4. A segment of another cluster renamed into place: the same name, the same key,
            // another system identifier.
            let first = "000000010000000000000001"
            let work = try cluster.makeServerDirectory("foreign")
            let fetched = try await cluster.tidemark.run("wal-fetch", first, work + "/" + first)
            try #require(fetched.exitCode == 0, "wal-fetch \(first): \(fetched)")
            try patch(work + "/" + first, at: 24, bytes: Array(repeating: 0x5A, count: 8))
            let other = try await cluster.tidemark.with(environment: ["TIDEMARK_STANZA": "other"]).run("wal-push", work + "/" + first)
            try #require(other.exitCode == 0, "wal-push into stanza other: \(other)")
            let original = try SetAside(cluster.segmentPath(first), in: scratch)
            try FileManager.default.removeItem(atPath: original.path)
            try SetAside.copy(cluster.segmentPath(first, stanza: "other"), original.path)
            let (foreignCode, foreign, foreignRun) = try await cluster.verify()
            #expect(foreignCode == 12, "a foreign segment: \(foreignRun)")
            #expect(foreign?.only?.problems.contains { $0.kind == "foreign" && $0.object == "main/wal/0000000100000000/\(first)" && $0.message.contains("another cluster") } == true,
                    "\(foreignRun.stdoutText)")
            try original.restore()

            // 5. A segment of timeline 2 without 00000002.history.
            let last = try #require(segmentOf[5])
            let renamed = "00000002" + last.dropFirst(8)
            let fetchedLast = try await cluster.tidemark.run("wal-fetch", last, work + "/" + renamed)
            try #require(fetchedLast.exitCode == 0, "wal-fetch \(last): \(fetchedLast)")
            let pushed = try await cluster.tidemark.run("wal-push", work + "/" + renamed)
            try #require(pushed.exitCode == 0, "wal-push \(renamed): \(pushed)")
            let (historyCode, history, historyRun) = try await cluster.verify()
            #expect(historyCode == 12 && history?.only?.missingHistories == [2], "a timeline without history: \(historyRun)")
            #expect(history?.only?.problems.contains { $0.kind == "missingHistory" && $0.object.hasSuffix("00000002.history") } == true, "\(historyRun.stdoutText)")
            try FileManager.default.removeItem(atPath: cluster.segmentPath(renamed))

            let (finalCode, _, finalRun) = try await cluster.verify()
            #expect(finalCode == 0, "everything undone: \(finalRun)")
            // The text report names the problem and its HINT too.
            try FileManager.default.removeItem(atPath: segment.path)
            let text = try await cluster.tidemark.run("verify")
            #expect(text.exitCode == 12 && text.stdoutText.contains("PROBLEM (gap)") && text.stdoutText.contains("HINT:")
                    && text.stderrText.contains("tidemark verify: ERROR:"), "\(text)")
            try segment.restore()

            // A repository verify cannot open exits with that error's own code (4: wrong key),
            // after the report that says it is unreadable.
            let wrongKey = cluster.tidemark.with(environment: ["BACKUP_ENCRYPTION_KEY": "a-different-and-long-enough-passphrase"])
            let (wrongCode, wrong, wrongRun) = try await cluster.verify(runner: wrongKey)
            #expect(wrongCode == 4 && wrong?.only?.status == "unreadable", "verify with the wrong key: \(wrongRun)")
        }
    }
}

func fileSize(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
}

func flipByte(in path: String, at offset: Int) throws {
    try patch(path, at: offset) { [$0 ^ 0x01] }
}

func patch(_ path: String, at offset: Int, bytes: [UInt8]) throws {
    var i = 0
    try patch(path, at: offset, count: bytes.count) { _ in
        defer { i += 1 }
        return [bytes[i]]
    }
}

/// Rewrites bytes of a file in place (same inode, owner and mode).
func patch(_ path: String, at offset: Int, count: Int = 1, _ change: (UInt8) -> [UInt8]) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    let old = try handle.read(upToCount: count) ?? Data()
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: Data(old.flatMap(change)))
}

func truncate(_ path: String, to size: Int) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.truncate(atOffset: UInt64(size))
}
