import Foundation
import Testing
import TidemarkArchiver
import TidemarkSystem
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

extension PostgreSQLIntegration {
    /// The resident archiver on PostgreSQL 15 (docs/archiver.md): autostarted by the first
    /// `wal-push`, killed with SIGKILL again and again while PostgreSQL switches segments;
    /// nothing lost, every segment PostgreSQL marked archived comes back byte for byte, no
    /// failure in pg_stat_archiver; a client of another uid is refused; a `wal-push` with the
    /// wrong key is not answered durable by an archiver that holds the right one.
    @Suite("Resident archiver", .tags(.walArchive))
    struct ArchiverIntegrationTests {
        /// Every `tidemark ... archiver --data-directory <data>` process, from /proc.
        static func archiverPIDs(dataDirectory: String) -> [pid_t] {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return entries.compactMap { entry -> pid_t? in
                guard let pid = pid_t(entry), let raw = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
                let args = raw.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
                guard args.contains("archiver"), let i = args.firstIndex(of: "--data-directory"), i + 1 < args.count,
                      args[i + 1] == dataDirectory else { return nil }
                return pid
            }
        }

        static func waitForArchiver(dataDirectory: String, seconds: Double) async throws -> [pid_t] {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                let pids = archiverPIDs(dataDirectory: dataDirectory)
                if !pids.isEmpty { return pids }
                try await Task.sleep(for: .milliseconds(20))
            }
            return []
        }

        static func switches(_ server: PostgresFixture, _ count: Int) async throws {
            _ = try await server.psql(
                """
                create table if not exists tidemark_switch (at timestamptz not null default now());
                do $$ begin for i in 1..\(count) loop insert into tidemark_switch default values; perform pg_switch_wal(); end loop; end $$;
                """)
        }

        @Test("≥ 100 segments through the archiver, SIGKILLed ≥ 30 times: all archived byte for byte, no failure",
              .timeLimit(.minutes(10)))
        func killedArchiverLosesNothing() async throws {
            let user = try SystemUser.serverUser()
            let scratch = try ScratchDirectory(prefix: "tidemark-it-archiver", mode: 0o755)
            let binary = try TidemarkBinary.install()
            let (repository, tidemark) = try await initializedRepository(in: scratch, binary: binary, user: user)
            let server = try await PostgresFixture(
                PostgresFixture.Options(
                    configuration: [
                        "archive_mode = on",
                        "archive_command = " + ShellQuoting.configString(ShellQuoting.quote(binary.path) + " wal-push %p"),
                        "wal_level = replica",
                        "max_wal_size = '64MB'",
                        "min_wal_size = '32MB'",
                        "wal_keep_size = '4GB'",
                    ],
                    environment: repository.environment))
            defer {
                server.stop()
                for pid in Self.archiverPIDs(dataDirectory: server.dataDirectory) { kill(pid, SIGKILL) }
            }
            let data = server.dataDirectory

            // The first segment: its wal-push finds no archiver and starts one.
            var last = try await server.switchWAL()
            _ = try await server.waitUntilArchived(last, timeout: .seconds(120))
            let started = try await Self.waitForArchiver(dataDirectory: data, seconds: 10)
            try #require(!started.isEmpty, "no archiver was autostarted\n\(server.serverLog())")
            let socket = data + "/pgsql_tmp.tidemark-archiver.main/socket"
            var st = stat()
            #expect(lstat(socket, &st) == 0 && st.st_mode & 0o777 == 0o600, "socket mode \(String(st.st_mode & 0o777, radix: 8))")
            #expect(lstat(FileManager.default.parent(of: socket), &st) == 0 && st.st_mode & 0o777 == 0o700)

            // Switch segments; kill the archiver at random points in between.
            var kills = 0
            var generator = SeededGenerator.fromEnvironment()
            print("archiver kill test: seed \(generator.seed)")
            while kills < 32 {
                try await Self.switches(server, Int.random(in: 2...5, using: &generator))
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...60, using: &generator)))
                let pids = try await Self.waitForArchiver(dataDirectory: data, seconds: 5)
                for pid in pids where kill(pid, SIGKILL) == 0 { kills += 1 }
                if pids.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            }
            try await Self.switches(server, 8)
            last = try await server.switchWAL()
            var status = try await server.waitUntilArchived(last, timeout: .seconds(300))
            while status.archivedCount < 101 {
                last = try await server.switchWAL()
                status = try await server.waitUntilArchived(last, timeout: .seconds(120))
            }
            #expect(status.failedCount == 0, "archive_command failed: \(status)\n\(server.serverLog())")
            #expect(!(try await Self.waitForArchiver(dataDirectory: data, seconds: 10)).isEmpty, "wal-push restarts the archiver")

            // Every segment PostgreSQL marked archived is in the repository, byte for byte.
            let done = try server.archivedSegmentsInWALDirectory()
            #expect(done.count >= 100, "only \(done.count) .done segments")
            let fetched = scratch.child("fetched")
            try FileManager.default.makeDirectory(fetched, mode: 0o700, owner: user)
            var same = 0
            for name in done {
                let destination = fetched + "/" + name
                let fetch = try await tidemark.run("wal-fetch", name, destination)
                #expect(fetch.exitCode == 0, "wal-fetch \(name): \(fetch)")
                guard fetch.exitCode == 0 else { continue }
                if try expectSameBytes(destination, server.walDirectory + "/" + name, "segment \(name)") { same += 1 }
                try FileManager.default.removeItem(atPath: destination)
            }
            #expect(same == done.count)
            // The archiver never renames or removes anything in pg_wal: PostgreSQL's own
            // bookkeeping (.ready → .done) is intact for each.
            let ready = try FileManager.default.contentsOfDirectory(atPath: server.archiveStatusDirectory).filter { $0.hasSuffix(".ready") }
            #expect(ready.isEmpty, "still ready: \(ready)")
            print("archiver kill test: \(kills) SIGKILLs, \(status), \(same) segments compared byte for byte")

            // The fast path: a segment the archiver holds durable, asked as PostgreSQL asks.
            let sample = try #require(done.last)
            var times: [Double] = []
            for _ in 0..<15 {
                let push = try await tidemark.run("wal-push", "pg_wal/" + sample, currentDirectory: data)
                #expect(push.exitCode == 0, "\(push)")
                times.append(Double(push.duration.components.attoseconds) / 1e15 + Double(push.duration.components.seconds) * 1000)
            }
            times.sort()
            // The same push without the archiver (an absolute path from elsewhere is not asked):
            // the synchronous path, comparing with the copy already archived.
            var synchronous: [Double] = []
            for _ in 0..<5 {
                let push = try await tidemark.run("wal-push", server.walDirectory + "/" + sample, currentDirectory: scratch.path)
                #expect(push.exitCode == 0, "\(push)")
                synchronous.append(Double(push.duration.components.attoseconds) / 1e15 + Double(push.duration.components.seconds) * 1000)
            }
            synchronous.sort()
            print("archiver fast path: synchronous wal-push of the same segment (no archiver asked), median \(synchronous[synchronous.count / 2]) ms of \(synchronous.count)")
            let answered = try await tidemark.run("wal-push", "pg_wal/" + sample, environment: ["TIDEMARK_LOG_LEVEL": "debug"], currentDirectory: data)
            #expect(answered.exitCode == 0 && answered.stderrText.contains("wal-push answered by the archiver"), "\(answered)")
            #expect(!answered.stderrText.contains("repository opened"), "the fast path opened a repository: \(answered.stderrText)")
            print("archiver fast path: wal-push of a durable segment, median \(times[times.count / 2]) ms of \(times.count) (process start included, as the test runner measures it)")

            // Another uid is refused on the socket (the tests run as root, the server as postgres).
            if let user, user.uid != geteuid() {
                let connection = try #require(UnixConnection.connect(socket), "nobody listens on \(socket)")
                let line = try #require(connection.readLine(deadline: monotonicNanoseconds(after: 5)))
                let reply = ArchiverProtocol.decode(ArchiverProtocol.Reply.self, line)
                #expect(reply?.state == .failed && reply?.reason?.contains("refused") == true, "\(String(decoding: line, as: UTF8.self))")
                #expect(connection.readLine(deadline: monotonicNanoseconds(after: 5)) == nil, "the connection is closed")
            } else {
                Issue.record("the uid check needs the tests to run as root (PostgreSQL as the postgres user)")
            }

            // The wrong key: the archiver (holding the right one) must not answer durable; the
            // push happens synchronously and fails on the key as it would without an archiver.
            let wrongKeyFile = scratch.child("wrong.key")
            try RepositoryFixture.writeKey(to: wrongKeyFile, owner: user)
            let wrongKey = tidemark.with(environment: ["BACKUP_ENCRYPTION_KEY_FILE": wrongKeyFile])
            let push = try await wrongKey.run("wal-push", "pg_wal/" + sample, environment: ["TIDEMARK_LOG_LEVEL": "debug"], currentDirectory: data)
            #expect((1...125).contains(push.exitCode), "wal-push with the wrong key beside a running archiver: \(push)")
            #expect(push.stderrText.contains("different configuration"), "the archiver must refuse another key: \(push.stderrText)")
            #expect(push.stderrText.lowercased().contains("key"), "\(push.stderrText)")
        }
    }
}

extension FileManager {
    fileprivate func parent(of path: String) -> String { (path as NSString).deletingLastPathComponent }
}
