import Foundation
import Testing
import TidemarkTesting

/// `tidemark plan --json`, decoded independently of the engine (docs/plan-json.md).
struct PlanJSONView: Decodable {
    struct Completion: Decodable {
        var lsn: String
        var xid: UInt32
        var time: String
        var kind: String
    }
    struct Stop: Decodable {
        var kind: String
        var lsn: String
        var completion: Completion?
        var name: String?
    }
    var reachable: Bool
    var backup: String?
    var timeline: UInt32?
    var stop: Stop?
    var lastCommit: Completion?
    var segments: [String]?
    var histories: [String]?
    var settings: [String: String]?
    var reason: String?
    var message: String?
    var alternatives: [String]?
    var missingSegment: String?
}

/// One row of the test table with the exact time its transaction committed.
struct CommittedRow: Sendable {
    var id: Int
    var xid: UInt32
    /// `pg_xact_commit_timestamp(xmin)` as PostgreSQL prints it with `TimeZone = UTC`.
    var committed: String
    /// Microseconds since the Unix epoch.
    var micros: Int64
}

/// `2026-11-26 14:30:00.123456+00` → Unix microseconds (the test's own parser, independent of
/// the engine's).
func unixMicros(_ text: String) throws -> Int64 {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "UTC")
    var main = text
    var fraction: Int64 = 0
    if let plus = main.lastIndex(where: { $0 == "+" || $0 == "-" }), main.distance(from: plus, to: main.endIndex) <= 6 {
        main = String(main[..<plus])
    }
    if let dot = main.firstIndex(of: ".") {
        let digits = main[main.index(after: dot)...]
        fraction = Int64(digits.padding(toLength: 6, withPad: "0", startingAt: 0)) ?? 0
        main = String(main[..<dot])
    }
    f.dateFormat = "yyyy-MM-dd HH:mm:ss"
    guard let date = f.date(from: main) else { throw TestingError(.unexpectedOutput, "not a timestamp: \(text)") }
    return Int64(date.timeIntervalSince1970) * 1_000_000 + fraction
}

/// Unix microseconds → `2026-11-26 14:30:00.123456+00`.
func postgresTime(_ micros: Int64) -> String {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "UTC")
    f.dateFormat = "yyyy-MM-dd HH:mm:ss"
    let seconds = micros / 1_000_000
    let fraction = micros % 1_000_000
    return f.string(from: Date(timeIntervalSince1970: TimeInterval(seconds))) + "." + String(format: "%06lld", fraction) + "+00"
}

extension BackupTestCluster {
    /// Inserts `ids` into `pitr`, one transaction each, `pause` apart; returns each row's xid
    /// and commit timestamp as PostgreSQL recorded them.
    func commitRows(_ ids: [Int], table: String = "pitr", pause: Duration = .milliseconds(30)) async throws -> [CommittedRow] {
        for id in ids {
            try await server.psql("insert into \(table) values (\(id), 'row \(id)')")
            try await Task.sleep(for: pause)
        }
        return try await committedRows(ids, table: table) { try await self.server.psql($0) }
    }

    func committedRows(_ ids: [Int], table: String = "pitr", psql: (String) async throws -> String) async throws -> [CommittedRow] {
        let text = try await psql(
            "set timezone = 'UTC'; select id, xmin::text, pg_xact_commit_timestamp(xmin) from \(table) where id in (\(ids.map(String.init).joined(separator: ","))) order by id")
        var rows: [CommittedRow] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "|").map(String.init)
            guard f.count == 3, let id = Int(f[0]), let xid = UInt32(f[1]) else { continue }
            rows.append(CommittedRow(id: id, xid: xid, committed: f[2], micros: try unixMicros(f[2])))
        }
        #expect(rows.count == ids.count, "commit timestamps of \(ids): \(text)")
        return rows
    }

    /// `tidemark plan <flags> --json`: exit code and the decoded plan.
    func plan(_ flags: [String]) async throws -> (Int32, PlanJSONView?, ProcessResult) {
        let result = try await ChildProcess.run(tidemark.command(["plan"] + flags + ["--json"]))
        let view = try? JSONDecoder().decode(PlanJSONView.self, from: result.stdout)
        return (result.exitCode, view, result)
    }

    /// Restores to `flags` (promote at the target), starts the result, returns the ids in `table`.
    func restoreAndRead(_ flags: [String], name: String, table: String = "pitr", archiving: Bool = false,
                        sourceLocation: SourceLocation = #_sourceLocation) async throws -> ([Int], RestoredServer) {
        let dir = scratch.child(name)
        let result = try await ChildProcess.run(tidemark.command(["restore", "--to", dir, "--target-action", "promote"] + flags))
        try #require(result.exitCode == 0, "restore \(flags) failed: \(result)", sourceLocation: sourceLocation)
        let restored = try await startRestored(dir, name: name, archiving: archiving, sourceLocation: sourceLocation)
        let ids = try await restored.psql("select coalesce(string_agg(id::text, ',' order by id), '') from \(table)")
        return (ids.split(separator: ",").compactMap { Int($0) }, restored)
    }
}

extension PostgreSQLIntegration {
    @Suite("Point-in-time recovery", .tags(.large))
    struct PITRTests {
        /// Single-row commits spread over several segments; restores to five random instants
        /// between (and exactly at) commits, to a restore point, an LSN and an xid, each with
        /// exactly the rows committed up to the target; unreachable targets write nothing.
        @Test("restore to times, a restore point, an LSN and an xid: exactly the rows committed by the target",
              .timeLimit(.minutes(20)))
        func restoreToTargets() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-it-pitr", configuration: ["track_commit_timestamp = on"])
            defer { cluster.stop() }
            let server = cluster.server
            try await server.psql("create table pitr (id int primary key, note text)")
            let beforeBackup = try await cluster.commitRows([1, 2, 3])
            try await Task.sleep(for: .milliseconds(300))
            try await cluster.backup("full")

            var rows = beforeBackup
            for batch in 0..<5 {
                let ids = Array((10 + batch * 8)..<(18 + batch * 8))
                rows += try await cluster.commitRows(ids)
                if batch == 1 {
                    try await server.psql("select pg_create_restore_point('before-batch-2')")
                }
                _ = try await server.switchWAL()
            }
            let lsnAfter = try await server.psql("select pg_current_wal_lsn()")
            let afterLSN = try await cluster.commitRows([60, 61])
            rows += afterLSN
            // Later commits, so every target above has a commit after it in the archive.
            rows += try await cluster.commitRows([70, 71, 72])
            let last = try await server.switchWAL()
            _ = try await server.waitUntilArchived(last, timeout: .seconds(120))

            // info's restorable window on timeline 1: from the backup's stop to the last
            // archived commit, the same one `plan --latest` predicts.
            let info = try await cluster.tidemark.run("info", "--json")
            let stanzas = (try JSONSerialization.jsonObject(with: info.stdout) as? [String: Any])?["stanzas"] as? [[String: Any]]
            let windows = try #require(stanzas?.first?["restorable"] as? [[String: Any]], "info --json: \(info.stdoutText)")
            let (latestCode, latest, latestRun) = try await cluster.plan(["--latest"])
            try #require(latestCode == 0, "\(latestRun)")
            let lastCommit = try #require(latest?.lastCommit?.time)
            let backupStop = try #require(try await cluster.list().backups.first?.stopTime)
            func micros(_ text: String) throws -> Int64 {
                try unixMicros(text.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "+00"))
            }
            #expect(windows.count == 1 && windows.first?["timeline"] as? Int == 1, "\(windows)")
            if let w = windows.first, let until = w["until"] as? String, let from = w["from"] as? String {
                #expect(try micros(until) == micros(lastCommit), "window until \(until), plan --latest's last commit \(lastCommit)")
                #expect(try micros(from) == micros(backupStop), "window from \(from), backup stop \(backupStop)")
            }
            #expect(try await cluster.tidemark.run("info").stdoutText.contains("restorable on timeline 1:"))

            let all = rows.sorted { $0.micros < $1.micros }
            var generator = SeededGenerator.fromEnvironment()
            print("PITR instants seed: \(generator.seed) (TIDEMARK_TEST_SEED replays it)")
            var instants: [(String, Int64)] = []
            // Five random instants strictly between two commits, and one exactly at a commit.
            let candidates = Array(all.indices.dropFirst(3).dropLast(4))
            for _ in 0..<5 {
                let i = candidates[Int(generator.next() % UInt64(candidates.count))]
                let gap = all[i + 1].micros - all[i].micros
                guard gap > 2 else { continue }
                let t = all[i].micros + 1 + Int64(generator.next() % UInt64(gap - 1))
                instants.append((postgresTime(t), t))
            }
            let exact = all[candidates[candidates.count / 2]]
            instants.append((exact.committed, exact.micros))

            for (n, (text, micros)) in instants.enumerated() {
                let expected = all.filter { $0.micros <= micros }.map(\.id).sorted()
                let expectedLast = all.filter { $0.micros <= micros }.max { $0.micros < $1.micros }
                let (code, view, result) = try await cluster.plan(["--target-time", text])
                try #require(code == 0, "plan --target-time \(text): \(result)")
                // The last commit the plan predicts is the last pitr row by then, or a later
                // commit of another table (switchWAL's), still at or before the target.
                let predicted = try view?.lastCommit.map { try unixMicros($0.time.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "+00")) }
                let plausible = predicted.map { $0 <= micros && $0 >= (expectedLast?.micros ?? 0) } ?? false
                #expect(plausible,
                        "plan predicts the last commit \(String(describing: view?.lastCommit)) for \(text); the last row committed by then is \(String(describing: expectedLast))")
                let (ids, restored) = try await cluster.restoreAndRead(["--target-time", text], name: "time-\(n)")
                #expect(ids == expected, "restore to \(text): rows \(ids), expected \(expected)")
                let settings = try String(contentsOfFile: restored.dataDirectory + "/postgresql.auto.conf", encoding: .utf8)
                #expect(settings.contains("recovery_target_time = '"), "auto.conf: \(settings)")
                #expect(settings.contains("recovery_target_timeline = '1'"), "an explicit timeline: \(settings)")
                restored.stop()
            }

            // A restore point by name.
            let (rpIDs, rp) = try await cluster.restoreAndRead(["--target-name", "before-batch-2"], name: "name")
            #expect(rpIDs == [1, 2, 3] + Array(10..<26), "restore point: \(rpIDs)")
            rp.stop()

            // An LSN taken after row 49 committed, before 60.
            let (lsnIDs, byLSN) = try await cluster.restoreAndRead(["--target-lsn", lsnAfter], name: "lsn")
            #expect(lsnIDs == [1, 2, 3] + Array(10..<50), "LSN \(lsnAfter): \(lsnIDs)")
            byLSN.stop()

            // The transaction that inserted row 60, inclusive and exclusive.
            let xid = afterLSN[0].xid
            let (xidIDs, byXid) = try await cluster.restoreAndRead(["--target-xid", String(xid)], name: "xid")
            #expect(xidIDs == [1, 2, 3] + Array(10..<50) + [60], "xid \(xid): \(xidIDs)")
            byXid.stop()
            let (xidBefore, byXidBefore) = try await cluster.restoreAndRead(["--target-xid", String(xid), "--target-exclusive"], name: "xid-excl")
            #expect(xidBefore == [1, 2, 3] + Array(10..<50), "xid \(xid) exclusive: \(xidBefore)")
            byXidBefore.stop()

            // Unreachable: before the backup became consistent, after the last commit, a deleted segment.
            let early = postgresTime(beforeBackup[1].micros)
            try await expectUnreachable(cluster, ["--target-time", early], reason: "beforeOldestBackup", name: "early")
            let future = postgresTime((all.last?.micros ?? 0) + 3_600_000_000)
            try await expectUnreachable(cluster, ["--target-time", future], reason: "afterLastCommit", name: "future")
            #expect(try await ChildProcess.run(cluster.tidemark.command(["plan", "--target-time", "2026-11-26 14:30:00"])).exitCode == 64,
                    "a time without a zone is a usage error")

            let row49 = try #require(rows.first { $0.id == 49 })
            let target = postgresTime(row49.micros)
            let (_, planned, _) = try await cluster.plan(["--target-time", target])
            let segments = try #require(planned?.segments, "plan lists segments")
            try #require(segments.count >= 3)
            let victim = segments[segments.count - 2]
            let path = cluster.repository.directory + "/main/wal/" + victim.prefix(16) + "/" + victim
            try FileManager.default.moveItem(atPath: path, toPath: path + ".aside")
            let missing = try await expectUnreachable(cluster, ["--target-time", target], reason: "missingSegment", name: "gap")
            #expect(missing?.missingSegment == victim)
            #expect(missing?.message?.contains(victim) == true)
            try FileManager.default.moveItem(atPath: path + ".aside", toPath: path)
        }

        @discardableResult
        func expectUnreachable(_ cluster: BackupTestCluster, _ flags: [String], reason: String, name: String,
                               sourceLocation: SourceLocation = #_sourceLocation) async throws -> PlanJSONView? {
            let (code, view, result) = try await cluster.plan(flags)
            #expect(code == 10, "plan \(flags) should be unreachable (exit 10): \(result)", sourceLocation: sourceLocation)
            #expect(view?.reachable == false && view?.reason == reason, "plan \(flags): \(result.stdoutText)", sourceLocation: sourceLocation)
            let alternatives = view?.alternatives ?? []
            #expect(!alternatives.isEmpty, "alternatives offered: \(result.stdoutText)", sourceLocation: sourceLocation)
            let dir = cluster.scratch.child("unreachable-" + name)
            let restore = try await ChildProcess.run(cluster.tidemark.command(["restore", "--to", dir] + flags))
            #expect(restore.exitCode == 10, "restore \(flags): \(restore)", sourceLocation: sourceLocation)
            #expect(restore.stderrText.contains("not reachable"), "restore says why: \(restore.stderrText)", sourceLocation: sourceLocation)
            #expect(!FileManager.default.fileExists(atPath: dir), "restore wrote \(dir) for an unreachable target", sourceLocation: sourceLocation)
            return view
        }

        /// Restore and promote (timeline 2), write more there, archive; then a time on timeline 2
        /// and a time on timeline 1 after the switch both restore exactly.
        @Test("timelines: a time on timeline 2 and a time on timeline 1 after the switch, both exact", .timeLimit(.minutes(15)))
        func acrossTimelines() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-it-tli", configuration: ["track_commit_timestamp = on"])
            defer { cluster.stop() }
            let server = cluster.server
            try await server.psql("create table pitr (id int primary key, note text)")
            _ = try await cluster.commitRows([1, 2])
            try await cluster.backup("full")
            let a = try await cluster.commitRows([10, 11, 12, 13, 14, 15], pause: .milliseconds(60))
            var last = try await server.switchWAL()
            _ = try await server.waitUntilArchived(last)
            // The original stops here: its WAL (timeline 1, rows up to 15) is all archived.
            cluster.stop()

            // PITR to just after row 12: timeline 2 is born, archiving to the same repository.
            let branch = postgresTime(a[2].micros + 1)
            let (ids2, tl2) = try await cluster.restoreAndRead(["--target-time", branch], name: "branch", archiving: true)
            #expect(ids2 == [1, 2, 10, 11, 12])
            #expect(try await tl2.psql("select timeline_id from pg_control_checkpoint()") == "2")
            for id in [20, 21, 22] {
                try await tl2.psql("insert into pitr values (\(id), 'timeline 2')")
                try await Task.sleep(for: .milliseconds(60))
            }
            let b = try await cluster.committedRows([20, 21, 22]) { try await tl2.psql($0) }
            try await tl2.psql("create table if not exists tidemark_switch (at timestamptz default now()); insert into tidemark_switch default values")
            last = try await tl2.psql("select pg_walfile_name(pg_switch_wal())")
            let deadline = ContinuousClock.now + .seconds(120)
            while try await tl2.psql("select coalesce(last_archived_wal, '') from pg_stat_archiver") < last {
                try #require(ContinuousClock.now < deadline, "timeline 2 did not archive \(last): \(tl2.log())")
                try await Task.sleep(for: .milliseconds(200))
            }
            tl2.stop()

            // A time on timeline 2, after row 21.
            let onTwo = postgresTime(b[1].micros + 1)
            let (code2, plan2, r2) = try await cluster.plan(["--target-time", onTwo])
            #expect(code2 == 0 && plan2?.timeline == 2, "plan on timeline 2: \(r2)")
            #expect(plan2?.histories == ["00000002.history"])
            let (idsTwo, s2) = try await cluster.restoreAndRead(["--target-time", onTwo], name: "on-two")
            #expect(idsTwo == [1, 2, 10, 11, 12, 20, 21], "timeline 2 at \(onTwo): \(idsTwo)")
            s2.stop()

            // A time on timeline 1 after the switchpoint (row 14 committed, 15 not yet).
            let onOne = postgresTime(a[4].micros + 1)
            let (code1, plan1, r1) = try await cluster.plan(["--target-time", onOne])
            #expect(code1 == 0 && plan1?.timeline == 1, "plan on timeline 1: \(r1)")
            let (idsOne, s1) = try await cluster.restoreAndRead(["--target-time", onOne], name: "on-one")
            #expect(idsOne == [1, 2, 10, 11, 12, 13, 14], "timeline 1 at \(onOne): \(idsOne)")
            s1.stop()
        }
    }
}
