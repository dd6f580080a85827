import Foundation
import Testing
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

extension PostgreSQLIntegration {
    /// A killed expire and expire beside running backups: nothing listed fails to restore, the
    /// next run finishes the job, and the stanza lock keeps commands apart.
    @Suite("Expire: SIGKILL and the stanza lock", .tags(.large))
    struct ExpireIntegrationKillTests {
        static let requiredKills = 3
        /// Kills among the backups' deletions (marks written, some of their objects gone).
        static let requiredMidway = 2

        @Test("SIGKILL at a random moment of expire: every listed backup plans and restores exactly; the next run ends where an uninterrupted one does",
              .timeLimit(.minutes(10)))
        func killedExpire() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-it-expire-kill", configuration: ["track_commit_timestamp = on"])
            defer { cluster.stop() }
            let server = cluster.server
            try await server.psql("create table pitr (id int primary key, note text)")
            var rowsAt: [String: [Int]] = [:]
            for round in 0..<4 {
                _ = try await cluster.commitRows([round * 10 + 1, round * 10 + 2])
                _ = try await server.switchWAL()
                let full = try await cluster.backup("full").0.id
                rowsAt[full] = try await cluster.currentRows()
                _ = try await cluster.commitRows([round * 10 + 5])
                _ = try await server.switchWAL()
                let incremental = try await cluster.backup("incremental").0.id
                rowsAt[incremental] = try await cluster.currentRows()
            }
            _ = try await cluster.commitRows([90, 91])
            try await cluster.archiveEverything()

            let repoRoot = cluster.repository.directory
            let pristine = cluster.scratch.child("pristine-repository")
            let cp = try ChildProcess.runBlocking(Command("/bin/cp", ["-a", repoRoot, pristine], timeout: .seconds(120)))
            try #require(cp.succeeded, "\(cp)")
            let notLock = { (path: String) in !path.hasPrefix("main/lock/") }
            let pristineSnapshot = try RepositorySnapshot(of: repoRoot)
            let pristineFiles = pristineSnapshot.files.filter(notLock)

            // The reference: an uninterrupted run on the same repository.
            let (refCode, reference, refRun) = try await cluster.expire()
            try #require(refCode == 0 && reference?.repositories.first?.backupsDeleted == 6, "uninterrupted expire: \(refRun)")
            let finalList = try await cluster.list().backups.map(\.id).sorted()
            let finalFiles = try RepositorySnapshot(of: repoRoot).files.filter(notLock)
            #expect(finalList.count == 2, "the newest chain stays: \(finalList)")

            var random = SeededGenerator.fromEnvironment()
            let seed = "seed \(random.seed) (TIDEMARK_TEST_SEED replays it)"
            print("expire SIGKILL: \(seed); an uninterrupted run took \(refRun.duration)")
            // Most of a run is starting up and planning; the backups' deletions come next, the
            // WAL's last. One iteration in three kills after a random delay drawn from the upper 40 % of a
            // window that starts at the uninterrupted run's duration (at most 400 ms) and adapts:
            // a kill before anything was deleted grows it by 10 %; a run that finished first, or
            // a kill after every backup was gone, shrinks it by 10 %. The others aim at the
            // backups' part: they wait until the first deletion mark appears, then kill after a
            // random 0...`afterMark` (shrunk by 30 % when the kill came too late).
            let backupFilesToGo = pristineFiles.subtracting(finalFiles).filter { !$0.hasPrefix("main/wal/") }
            var window = min(refRun.duration, .milliseconds(400))
            var afterMark = Duration.milliseconds(12)
            var kills = 0
            var midway = 0
            var iteration = 0
            while (kills < Self.requiredKills || midway < Self.requiredMidway || iteration < 5) && iteration < 12 {
                iteration += 1
                try cluster.replaceRepository(with: pristine)
                let aimed = iteration % 3 != 1
                let expire = try cluster.expiring.launch("expire")
                let delay: Duration
                if aimed {
                    let deadline = ContinuousClock.now + .seconds(5)
                    while ContinuousClock.now < deadline {
                        let marks = (try? FileManager.default.contentsOfDirectory(atPath: repoRoot + "/main/deleting")) ?? []
                        if !marks.isEmpty { break }
                        try await Task.sleep(for: .microseconds(300))
                    }
                    delay = .microseconds(Int64.random(in: 0...max(1, afterMark.microseconds), using: &random))
                } else {
                    let upper = max(1_000, window.microseconds)
                    delay = .microseconds(Int64.random(in: (upper * 6 / 10)...upper, using: &random))
                }
                try await Task.sleep(for: delay)
                expire.send(SIGKILL)
                let result = try await expire.wait()
                let killed = result.signal == SIGKILL
                if killed { kills += 1 }
                // Where the kill landed: before any deletion, among the backups (marks written,
                // some of their objects gone), in the WAL, or after everything.
                let files = try RepositorySnapshot(of: repoRoot).files.filter(notLock)
                let marks = files.filter { $0.hasPrefix("main/deleting/") }.count
                let backupsGone = backupFilesToGo.subtracting(files).count
                let amongBackups = killed && files != pristineFiles && (marks > 0 || backupsGone < backupFilesToGo.count)
                let landed = files == pristineFiles ? "nothing deleted yet" : files == finalFiles ? "everything done"
                    : "\(amongBackups ? "among the backups" : "in the WAL"): \(marks) marks, \(backupsGone) of \(backupFilesToGo.count) backup files and \(pristineFiles.subtracting(files).count - backupsGone) WAL files gone"
                if amongBackups { midway += 1 }
                if aimed {
                    if !amongBackups { afterMark = afterMark * 0.7 }
                } else if !killed || (files != pristineFiles && !amongBackups) {
                    window = window * 0.9
                } else if files == pristineFiles {
                    window = window * 1.1
                }
                let context = "iteration \(iteration), kill \(delay) after \(aimed ? "the first mark" : "the start") (\(killed ? "killed" : "finished first: \(result.exitCode)"); \(landed)), \(seed)"
                print("expire SIGKILL: \(context)")

                // Whatever is listed plans and restores (the oldest and the newest: restores are slow).
                let entries = try await cluster.list().backups.sorted { $0.stopTime < $1.stopTime }
                let listed = entries.map(\.id)
                for e in entries { if let p = e.parent { #expect(listed.contains(p), "\(context): \(e.id) is listed, its parent \(p) is not") } }
                #expect(Set(finalList).isSubset(of: Set(listed)), "\(context): the kept chain is listed: \(listed)")
                // A marked backup is being deleted: it is neither listed nor planned.
                let marked = files.filter { $0.hasPrefix("main/deleting/") }.map { String($0.dropFirst("main/deleting/".count)) }.sorted()
                #expect(Set(marked).isDisjoint(with: listed), "\(context): backups marked for deletion are listed: \(marked) in \(listed)")
                if let id = marked.first {
                    let (code, _, run) = try await cluster.plan(["--backup", id, "--target-immediate"])
                    #expect(code != 0, "\(context): plan --backup \(id) of a backup being deleted: \(run)")
                }
                let now = try RepositorySnapshot(of: repoRoot)
                for id in listed {
                    // A listed backup has every object it had: none was deleted before its mark.
                    let objects = pristineSnapshot.entries.filter { $0.key.hasPrefix("main/backup/\(id)/") }
                    let damaged = objects.filter { now.entries[$0.key] != $0.value }.map(\.key).sorted()
                    #expect(damaged.isEmpty, "\(context): backup \(id) is listed but lost \(damaged)")
                    let (code, view, run) = try await cluster.plan(["--backup", id, "--target-immediate"])
                    #expect(code == 0 && view?.backup == id, "\(context): plan --backup \(id) --target-immediate: \(run)")
                }
                for id in Set([listed.first, listed.last].compactMap { $0 }).sorted() {
                    let rows = try await cluster.restoredRows(of: id, name: "kill-\(iteration)-\(id)")
                    #expect(rows == rowsAt[id], "\(context): backup \(id) restores \(rows), expected \(String(describing: rowsAt[id]))")
                }

                // The next run finishes the job: the same end as the uninterrupted run.
                let (code, second, run) = try await cluster.expire()
                #expect(code == 0 && second?.repositories.first?.error == nil, "\(context): expire after the kill: \(run)")
                if let resumed = second?.repositories.first?.resumed, !resumed.isEmpty { print("expire SIGKILL: \(context): resumed \(resumed)") }
                #expect(try await cluster.list().backups.map(\.id).sorted() == finalList, "\(context)")
                let finished = try RepositorySnapshot(of: repoRoot).files.filter(notLock)
                #expect(finished == finalFiles, "\(context): left \(finished.subtracting(finalFiles).sorted().prefix(10)), missing \(finalFiles.subtracting(finished).sorted().prefix(10))")
            }
            #expect(kills >= Self.requiredKills && midway >= Self.requiredMidway,
                    "\(kills) of \(iteration) runs were killed before they finished, \(midway) of them mid-way; \(seed)")
        }

        @Test("two backups and an expire started at once: the losers exit 13 naming the holder; a backup succeeds; the repository stays consistent",
              .timeLimit(.minutes(10)))
        func backupsAndExpireTogether() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-it-expire-lock", configuration: ["track_commit_timestamp = on"])
            defer { cluster.stop() }
            let server = cluster.server
            // Big enough that a backup lasts a moment while the others ask for the lock.
            try await server.pgbench(["-i", "-q", "-s", "2"])
            try await server.psql("create table pitr (id int primary key, note text)")
            var rowsAt: [String: [Int]] = [:]
            for round in 0..<3 {
                _ = try await cluster.commitRows([round * 10 + 1])
                let id = try await cluster.backup(round == 1 ? "incremental" : "full").0.id
                rowsAt[id] = try await cluster.currentRows()
            }
            var backupsSucceeded = 0
            for round in 0..<3 {
                _ = try await cluster.commitRows([100 + round])
                try await cluster.archiveEverything()
                let rows = try await cluster.currentRows()
                let before = Set(try await cluster.list().backups.map(\.id))
                // The same moment, in a different launch order each round.
                let commands = [["backup", "--type", "incremental"], ["backup", "--type", "full"], ["expire"]]
                let order = [[0, 1, 2], [2, 0, 1], [1, 2, 0]][round]
                var processes: [Int: ChildProcess] = [:]
                for n in order { processes[n] = try ChildProcess(launching: cluster.expiring.command(commands[n])) }
                var results: [ProcessResult] = []
                for n in 0..<3 { results.append(try await #require(processes[n]).wait()) }
                let pids = (0..<3).compactMap { processes[$0]?.pid }
                print("expire lock: round \(round), launched \(order.map { commands[$0][0] }): backup, backup, expire exited \(results.map(\.exitCode))")
                for (n, result) in results.enumerated() where result.exitCode != 0 {
                    #expect(result.exitCode == 13, "round \(round): \(result)")
                    let others = pids.enumerated().filter { $0.offset != n }.map { "pid \($0.element) on " }
                    #expect(result.stderrText.contains("held by ") && others.contains { result.stderrText.contains($0) },
                            "round \(round): the refusal names the holder (one of \(pids)): \(result.stderrText)")
                }
                #expect(results.contains { $0.exitCode == 0 }, "round \(round): someone got the lock: \(results)")
                backupsSucceeded += results.prefix(2).filter { $0.exitCode == 0 }.count
                for id in try await cluster.list().backups.map(\.id) where !before.contains(id) { rowsAt[id] = rows }
            }
            #expect(backupsSucceeded >= 1, "no backup got the lock in three rounds")

            let listed = try await cluster.list().backups.sorted { $0.stopTime < $1.stopTime }.map(\.id)
            for id in listed {
                let (code, _, run) = try await cluster.plan(["--backup", id, "--target-immediate"])
                #expect(code == 0, "plan --backup \(id) --target-immediate: \(run)")
            }
            let newest = try #require(listed.last)
            #expect(try await cluster.restoredRows(of: newest, name: "newest") == rowsAt[newest], "the newest backup \(newest) restores exactly")
            let (code, final, run) = try await cluster.expire()
            #expect(code == 0 && final?.repositories.first?.error == nil, "a last expire runs cleanly: \(run)")
        }
    }
}
