import Foundation
import Testing
import TidemarkCodec
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

/// `tidemark rehearse --json`, decoded independently of the engine (docs/rehearsal.md).
struct RehearsalJSONView: Decodable {
    struct Backup: Decodable { var id: String; var chosen: String }
    struct Target: Decodable { var kind: String; var value: String?; var chosen: String }
    struct Completion: Decodable { var xid: UInt32; var time: String }
    struct Prediction: Decodable { var stopXid: UInt32?; var lastCommit: Completion?; var segments: [String] }
    struct Recovery: Decodable {
        var completed: Bool
        var stopXid: UInt32?
        var lastCommitTime: String?
        var matchesPlan: Bool?
        var logExcerpt: [String]
        var failedSegment: String?
        var failedObject: String?
    }
    struct Check: Decodable { var name: String; var kind: String; var status: String; var expected: String?; var actual: String? }
    struct RTO: Decodable { var restoreSeconds: Double; var replaySeconds: Double; var totalSeconds: Double }

    var status: String
    var failures: [String]
    var seed: UInt64
    var backup: Backup?
    var target: Target?
    var predicted: Prediction?
    var recovery: Recovery?
    var checks: [Check]
    var rto: RTO
    var restoredBytes: Int64
    var walReplayBytes: UInt64
    var walSegments: Int
    var scratch: String?
    var kept: Bool
}

extension BackupTestCluster {
    /// `tidemark rehearse --json --scratch <parent> <flags>`: exit code, decoded report, result.
    func rehearse(_ flags: [String], scratchParent: String) async throws -> (Int32, RehearsalJSONView?, ProcessResult) {
        let result = try await ChildProcess.run(tidemark.command(["rehearse", "--json", "--scratch", scratchParent, "--timeout", "300"] + flags))
        let view = try? JSONDecoder().decode(RehearsalJSONView.self, from: result.stdout)
        return (result.exitCode, view, result)
    }

    /// A check file readable by the server user.
    func writeCheckFile(_ name: String, _ text: String) throws -> String {
        let path = scratch.child(name)
        try FileManager.default.writeFile(path, Data(text.utf8), mode: 0o644, owner: user)
        return path
    }
}

/// The scratch parent holds nothing afterwards, and no process runs from a directory under it.
func expectTornDown(_ parent: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let left = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? ["<unreadable>"]
    #expect(left.isEmpty, "the scratch cluster was not removed: \(left)", sourceLocation: sourceLocation)
    var running: [String] = []
    for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(pid) != nil {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
        let cmdline = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
        if cmdline.contains(parent + "/") { running.append("\(pid): \(cmdline)") }
    }
    #expect(running.isEmpty, "processes of the scratch cluster still run: \(running)", sourceLocation: sourceLocation)
}

extension PostgreSQLIntegration {
    @Suite("PITR rehearsal", .tags(.large))
    struct RehearsalTests {
        /// Single-row commits over several segments after a full backup: a rehearsal to a
        /// random instant passes with the predicted last commit; one to a time between two
        /// known commits passes an exact row-count check; a wrong expectation fails with 11.
        @Test("rehearse: random and given targets pass, predicted last commit replayed, wrong SQL expectation fails",
              .timeLimit(.minutes(15)))
        func rehearsalPasses() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-it-rehearse", configuration: ["track_commit_timestamp = on"])
            defer { cluster.stop() }
            let server = cluster.server
            try await server.psql("create table pitr (id int primary key, note text)")
            _ = try await cluster.commitRows([1, 2, 3])
            try await Task.sleep(for: .milliseconds(300))
            try await cluster.backup("full")
            try await Task.sleep(for: .milliseconds(1100))
            var rows: [CommittedRow] = []
            for batch in 0..<3 {
                rows += try await cluster.commitRows(Array((10 + batch * 5)..<(15 + batch * 5)))
                _ = try await server.switchWAL()
            }
            rows += try await cluster.commitRows([40, 41, 42])
            let last = try await server.switchWAL()
            _ = try await server.waitUntilArchived(last, timeout: .seconds(120))
            let parent = try cluster.makeServerDirectory("rehearse-scratch")

            // 1. The default: newest backup, random instant.
            let (code, view, result) = try await cluster.rehearse([], scratchParent: parent)
            #expect(code == 0, "rehearse (random instant) exits 0: \(result)")
            let report = try #require(view, "rehearse --json prints the report: \(result)")
            #expect(report.status == "pass", "report: \(report.failures)")
            #expect(report.target?.chosen == "random" && report.target?.kind == "time", "a random time target: \(String(describing: report.target))")
            // A random instant before the first commit after the backup replays no commit at all.
            if let predicted = report.predicted?.lastCommit {
                let actual = try #require(report.recovery?.lastCommitTime, "the server reports its last completed transaction")
                #expect(try unixMicros(predicted.time) == unixMicros(actual), "predicted \(predicted.time), actual \(actual)")
            } else {
                #expect(report.recovery?.lastCommitTime == nil, "no commit predicted, none replayed: \(String(describing: report.recovery))")
            }
            #expect(report.recovery?.stopXid != nil && report.recovery?.stopXid == report.predicted?.stopXid,
                    "stopped before the predicted transaction: \(String(describing: report.recovery)) \(String(describing: report.predicted))")
            #expect(report.recovery?.matchesPlan == true)
            #expect(report.rto.restoreSeconds > 0 && report.rto.replaySeconds > 0 && report.rto.totalSeconds > 0, "RTO: \(report.rto)")
            #expect(report.restoredBytes > 0 && report.walReplayBytes > 0 && report.walSegments > 0)
            #expect(report.checks.contains { $0.name == "accepts connections" && $0.status == "pass" }, "checks: \(report.checks)")
            #expect(report.checks.contains { $0.name == "amcheck" && $0.status == "pass" }, "amcheck ran: \(report.checks)")
            #expect(result.stderrText.contains("seed \(report.seed)"), "the seed is printed: \(result.stderrText)")
            expectTornDown(parent)

            // 2. A time between two known commits, with the exact row count then.
            let after = rows.sorted { $0.micros < $1.micros }
            let i = try #require(after.indices.dropLast().first { after[$0 + 1].micros - after[$0].micros > 2 && $0 >= 6 })
            let target = after[i].micros + (after[i + 1].micros - after[i].micros) / 2
            let expectedCount = 3 + after.filter { $0.micros <= target }.count
            let good = try cluster.writeCheckFile("good.sql", """
                -- the rows committed by the target
                -- name: rows at target
                select count(*) from pitr;
                -- expect: \(expectedCount)

                -- name: newest row
                -- database: postgres
                select max(id), count(*) > 0 from pitr;
                -- expect: \(after[i].id)|t
                """)
            let (code2, view2, result2) = try await cluster.rehearse(["--target-time", postgresTime(target), "--check-sql", good],
                                                                     scratchParent: parent)
            #expect(code2 == 0, "rehearse --target-time with a right check exits 0: \(result2)")
            let report2 = try #require(view2, "report: \(result2)")
            #expect(report2.status == "pass", "failures: \(report2.failures)")
            #expect(report2.target?.chosen == "given")
            #expect(report2.checks.filter { $0.kind == "sql" }.map(\.status) == ["pass", "pass"], "sql checks: \(report2.checks)")
            #expect(report2.recovery?.matchesPlan == true)
            if let t = report2.recovery?.lastCommitTime {
                let micros = try unixMicros(t)
                #expect(micros >= after[i].micros && micros <= target, "last completed \(t) lies between row \(after[i].id) and the target")
            }
            expectTornDown(parent)

            // 3. A wrong expectation: FAIL, exit 11, the check named with both values.
            let bad = try cluster.writeCheckFile("bad.sql", """
                -- name: rows at target (wrong on purpose)
                select count(*) from pitr;
                -- expect: \(expectedCount + 1)
                """)
            let (code3, view3, result3) = try await cluster.rehearse(["--target-time", postgresTime(target), "--check-sql", bad],
                                                                     scratchParent: parent)
            #expect(code3 == 11, "a failing check exits 11: \(result3)")
            let report3 = try #require(view3, "report: \(result3)")
            #expect(report3.status == "fail")
            let failure = report3.failures.joined(separator: "\n")
            #expect(failure.contains("rows at target (wrong on purpose)") && failure.contains("'\(expectedCount + 1)'")
                    && failure.contains("'\(expectedCount)'"), "the failure names the check, expected and actual: \(failure)")
            let check = report3.checks.first { $0.kind == "sql" }
            #expect(check?.status == "fail" && check?.expected == String(expectedCount + 1) && check?.actual == String(expectedCount))
            expectTornDown(parent)

            // 4. --random, as text: the few lines a DBA reads.
            let text = try await ChildProcess.run(cluster.tidemark.command(["rehearse", "--random", "--seed", "7", "--scratch", parent]))
            #expect(text.exitCode == 0, "rehearse --random: \(text)")
            for needle in ["Rehearsal PASS", "seed 7", "backup", "target", "predicted", "actual", "checks", "RTO"] {
                #expect(text.stdoutText.contains(needle), "the text report has '\(needle)': \(text.stdoutText)")
            }
            expectTornDown(parent)

            // 5. --keep leaves the stopped scratch cluster, but never its prefetch spool of
            // decrypted WAL: not in the scratch data directory, not in /tmp as before.
            let (code5, view5, result5) = try await cluster.rehearse(["--keep", "--seed", "7"], scratchParent: parent)
            #expect(code5 == 0, "rehearse --keep: \(result5)")
            let kept = try #require(view5?.scratch, "the report names the scratch directory: \(result5)")
            defer { try? FileManager.default.removeItem(atPath: kept) }
            #expect(FileManager.default.fileExists(atPath: kept + "/data/PG_VERSION"), "--keep keeps the cluster")
            #expect(!FileManager.default.fileExists(atPath: kept + "/data/pgsql_tmp.tidemark-spool"), "the spool was kept in \(kept)")
            var hasher = ContentHasher()
            hasher.update(Array((kept + "/data").utf8))
            let legacy = "/tmp/tidemark-spool-\(cluster.user?.uid ?? geteuid())-main-\(hexString(hasher.finalize()).prefix(16))"
            #expect(!FileManager.default.fileExists(atPath: legacy), "a spool of decrypted WAL was left in \(legacy)")
        }

        /// A WAL object the plan needs, damaged at rest: the planner reads only summaries and
        /// passes; recovery stops at wal-fetch's exit 126 and the rehearsal fails naming it.
        @Test("rehearse: a corrupted WAL object fails the rehearsal and names the object", .timeLimit(.minutes(15)))
        func corruptWALFails() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-it-rehearse-bad", configuration: ["track_commit_timestamp = on"])
            defer { cluster.stop() }
            let server = cluster.server
            try await server.psql("create table pitr (id int primary key, note text)")
            try await cluster.backup("full")
            var rows: [CommittedRow] = []
            for batch in 0..<3 {
                rows += try await cluster.commitRows(Array((10 + batch * 5)..<(15 + batch * 5)))
                _ = try await server.switchWAL()
            }
            rows += try await cluster.commitRows([40, 41])
            let last = try await server.switchWAL()
            _ = try await server.waitUntilArchived(last, timeout: .seconds(120))
            let sorted = rows.sorted { $0.micros < $1.micros }
            let target = postgresTime(sorted[sorted.count - 3].micros + 1)

            let (planCode, plan, planResult) = try await cluster.plan(["--target-time", target])
            try #require(planCode == 0, "plan: \(planResult)")
            let segments = try #require(plan?.segments, "plan lists its segments")
            try #require(segments.count >= 3, "the plan spans several segments: \(segments)")
            let victim = segments[segments.count - 2]
            let object = cluster.repository.directory + "/main/wal/" + victim.prefix(16) + "/" + victim
            let handle = try #require(FileHandle(forUpdatingAtPath: object), "the WAL object \(object) exists")
            let size = try handle.seekToEnd()
            try handle.seek(toOffset: size / 2)
            var byte = try #require(try handle.read(upToCount: 1)).first ?? 0
            byte ^= 0xFF
            try handle.seek(toOffset: size / 2)
            try handle.write(contentsOf: Data([byte]))
            try handle.close()

            let parent = try cluster.makeServerDirectory("rehearse-scratch")
            let (code, view, result) = try await cluster.rehearse(["--target-time", target], scratchParent: parent)
            #expect(code == 11 || code == 10, "a damaged WAL object fails the rehearsal: \(result)")
            let output = result.stdoutText + result.stderrText
            #expect(output.contains(victim), "the report names the damaged segment \(victim): \(output)")
            if code == 11 {
                let report = try #require(view, "report: \(result)")
                #expect(report.status == "fail")
                #expect(report.recovery?.completed == false)
                #expect(report.recovery?.failedSegment == victim, "failedSegment: \(String(describing: report.recovery))")
                #expect(report.recovery?.failedObject?.hasSuffix("/" + victim) == true, "failedObject: \(String(describing: report.recovery?.failedObject))")
                #expect(report.failures.contains { $0.contains(victim) }, "failures: \(report.failures)")
            }
            expectTornDown(parent)
        }
    }
}
