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
    /// The stanza lock through the real binary against a real server: simultaneous backups
    /// exclude each other (exit 13 for the loser, naming the holder), the survivors restore
    /// exactly, and a holder killed with SIGKILL blocks the stanza only until its lease ends.
    @Suite("Backup: the stanza lock")
    struct BackupLockTests {
        static let tables = ["lock_rows"]

        @Test("10 pairs of simultaneous backups: in each pair exactly one exits 13; survivors restore exactly",
              .timeLimit(.minutes(10)))
        func simultaneousBackupsExcludeEachOther() async throws {
            let cluster = try await BackupTestCluster(prefix: "tidemark-lock-pairs")
            defer { cluster.stop() }
            let server = cluster.server
            // Big enough that a backup lasts a few seconds: the second of a pair asks for the
            // lock while the first holds it.
            try await server.pgbench(["-i", "-q", "-s", "4"])
            _ = try await server.psql("create table lock_rows (pair int, n int, filler text)")
            var survivors: [(pair: Int, id: String, rows: [String: String])] = []
            for pair in 0..<10 {
                _ = try await server.psql("insert into lock_rows select \(pair), g, md5(g::text) from generate_series(1, 500) g")
                let expected = try await rowDigests(Self.tables, psql: { try await server.psql($0) })
                let before = Set(try await cluster.list().backups.map(\.id))
                let first = try cluster.tidemark.launch("backup", "--type", "incremental", "--label", "pair \(pair) a")
                let second = try cluster.tidemark.launch("backup", "--type", "incremental", "--label", "pair \(pair) b")
                let results = [try await first.wait(), try await second.wait()]
                let codes = results.map(\.exitCode).sorted()
                #expect(codes == [0, 13], "pair \(pair): exit codes \(codes)\n\(results[0])\n\(results[1])")
                if let loser = results.firstIndex(where: { $0.exitCode == 13 }) {
                    let holder = loser == 0 ? second : first
                    let text = results[loser].stderrText
                    #expect(text.contains("is busy: held by backup pid \(holder.pid) on ") && text.contains(", lease until ")
                            && text.contains("; retry later"), "pair \(pair): the refusal must name the holder: \(text)")
                }
                let new = try await cluster.list().backups.filter { !before.contains($0.id) }
                #expect(new.count == 1, "pair \(pair): \(new.map(\.id)) completed")
                if let id = new.first?.id { survivors.append((pair, id, expected)) }
            }
            // A sample keeps the test short: the first (a full) and the last (an incremental on
            // a chain of nine).
            for survivor in [survivors.first, survivors.last].compactMap({ $0 }) {
                let target = cluster.scratch.child("restored-\(survivor.pair)")
                try await cluster.restore(survivor.id, to: target)
                let restored = try await cluster.startRestored(target, name: "restored-\(survivor.pair)")
                defer { restored.stop() }
                let actual = try await rowDigests(Self.tables, psql: { try await restored.psql($0) })
                #expect(actual == survivor.rows, "pair \(survivor.pair): backup \(survivor.id) restores other rows")
            }
        }

        @Test("a holder killed with SIGKILL: on this host its lease is taken over at once; held from another host it blocks until it expires",
              .timeLimit(.minutes(10)))
        func aKilledHolderBlocksOnlyUntilItsLeaseEnds() async throws {
            let lease = 6.0
            // No resident archiver: it would push the backup's last segment ahead of the slow
            // archive_command below, and the backup would not outlast its lease.
            let cluster = try await BackupTestCluster(prefix: "tidemark-lock-kill", environment: ["TIDEMARK_ARCHIVER_AUTOSTART": "0"])
            defer { cluster.stop() }
            let tidemark = cluster.tidemark.with(environment: ["TIDEMARK_LOCK_LEASE_SECONDS": String(Int(lease))])
            try await cluster.server.pgbench(["-i", "-q", "-s", "4"])
            let lockDirectory = cluster.repository.directory + "/main/lock"

            // 0. A backup renews its lease while it runs (a 2 s lease, renewed every 2/3 s). Slow
            // archiving makes it outlast its lease: it waits ~3 s for its last WAL segment.
            let archiveCommand = ShellQuoting.quote(cluster.binary.path) + " wal-push %p"
            _ = try await cluster.server.psql("alter system set archive_command = " + ShellQuoting.configString("sleep 3; " + archiveCommand))
            _ = try await cluster.server.psql("select pg_reload_conf()")
            let renewing = try cluster.tidemark.with(environment: ["TIDEMARK_LOCK_LEASE_SECONDS": "2"])
                .launch("backup", "--type", "full", "--label", "renewing")
            var expiries = Set<Int64>()
            while Self.isRunning(renewing.pid) {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: lockDirectory)) ?? [] {
                    if let data = FileManager.default.contents(atPath: lockDirectory + "/" + name),
                       let record = try? JSONDecoder().decode(LeaseRecord.self, from: data), !record.released, record.pid == renewing.pid {
                        expiries.insert(record.expiresAtMillis)
                    }
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            let renewed = try await renewing.wait()
            #expect(renewed.exitCode == 0, "\(renewed)")
            #expect(expiries.count >= 2, "the lease was never renewed during a \(renewed.duration) backup: \(expiries.sorted())")
            #expect(renewed.duration > .seconds(2), "the backup did not outlast its lease: \(renewed.duration)")
            _ = try await cluster.server.psql("alter system reset archive_command")
            _ = try await cluster.server.psql("select pg_reload_conf()")

            // 1. Killed on this host: the next backup takes over at once (its pid is gone).
            _ = try await killMidBackup(cluster, tidemark, lockDirectory: lockDirectory)
            let started = ContinuousClock.now
            let next = try await tidemark.run("backup", "--type", "full")
            #expect(next.exitCode == 0, "\(next)")
            #expect(ContinuousClock.now - started < .seconds(lease * 3), "took over only after the lease")

            // 2. The same, as if the holder had run on another host: its pid proves nothing, so
            // the stanza is busy until the lease ends, then the next backup proceeds.
            let (path, record) = try await killMidBackup(cluster, tidemark, lockDirectory: lockDirectory)
            var foreign = record
            foreign.host = "elsewhere.example"
            let encoder = JSONEncoder()
            try FileManager.default.writeFile(path, try encoder.encode(foreign), mode: 0o600, owner: cluster.user)
            let refused = try await tidemark.run("backup", "--type", "full")
            #expect(refused.exitCode == 13, "\(refused)")
            #expect(refused.stderrText.contains("held by backup pid \(record.pid) on elsewhere.example since \(record.acquiredAt), lease until \(record.expiresAt); retry later"),
                    "\(refused.stderrText)")
            let expiry = Date(timeIntervalSince1970: Double(record.expiresAtMillis) / 1000)
            #expect(Date() < expiry, "the refusal came after the lease had ended; the test proves nothing")
            while Date() < expiry + 0.2 { try await Task.sleep(for: .milliseconds(100)) }
            let after = try await tidemark.run("backup", "--type", "full")
            #expect(after.exitCode == 0, "the lease of a dead holder on another host ended, the next backup must proceed: \(after)")
            #expect(after.stderrText.contains("removed incomplete backup"), "the killed backup's files are cleaned up: \(after.stderrText)")
            #expect(try await cluster.list().backups.count == 3)
        }

        /// True until the process has ended (a zombie not yet reaped counts as ended).
        static func isRunning(_ pid: pid_t) -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            return !stat[close...].hasPrefix(") Z") && !stat[close...].hasPrefix(") X")
        }

        /// Starts a backup, kills it (SIGKILL) while it holds the lease and has begun writing its
        /// files, and returns the lease.
        func killMidBackup(_ cluster: BackupTestCluster, _ tidemark: TidemarkRunner, lockDirectory: String) async throws -> (String, LeaseRecord) {
            let directories = Set(cluster.backupDirectoriesInRepository())
            let child = try tidemark.launch("backup", "--type", "full", "--label", "to be killed")
            let launched = ContinuousClock.now
            var held: (String, LeaseRecord)?
            var writing = false
            while !(held != nil && writing) && ContinuousClock.now - launched < .seconds(60) {
                writing = !Set(cluster.backupDirectoriesInRepository()).subtracting(directories).isEmpty
                let names = (try? FileManager.default.contentsOfDirectory(atPath: lockDirectory)) ?? []
                for name in names.sorted().suffix(1) {
                    let path = lockDirectory + "/" + name
                    if let data = FileManager.default.contents(atPath: path),
                       let record = try? JSONDecoder().decode(LeaseRecord.self, from: data), !record.released, record.pid == child.pid {
                        held = (path, record)
                    }
                }
                if held == nil || !writing { try await Task.sleep(for: .milliseconds(5)) }
            }
            child.send(SIGKILL)
            let killed = try await child.wait()
            try #require(killed.signal == SIGKILL, "the backup ended before it could be killed: \(killed)")
            return try #require(held, "the backup never held the lock")
        }
    }
}
