import Foundation
import Testing
import TidemarkTesting

extension PostgreSQLIntegration {
    /// PostgreSQL 15 archiving to a local repository and to S3 (moto on loopback, behind a fault
    /// proxy), both required, configured by environment variables only.
    @Suite("S3 end to end", .tags(.walArchive))
    struct S3EndToEndTests {
        static let bucket = "tidemark-e2e"

        /// The environment that gives `local` (BACKUP_DIR) and `offsite` (S3 through `endpoint`).
        static func s3Environment(_ moto: MotoServer, endpoint: String) -> [String: String] {
            ["AWS_ACCESS_KEY_ID": moto.accessKeyID, "AWS_SECRET_ACCESS_KEY": moto.secretAccessKey, "AWS_REGION": "us-east-1",
             "AWS_ENDPOINT_URL": endpoint, "AWS_BACKUP_BUCKET": bucket + "/clinic", "TIDEMARK_IO_TIMEOUT": "20"]
        }

        /// Archive to local + S3, a full backup to both, delete the local repository, restore to a
        /// timestamp from S3 alone: exactly the rows committed by then.
        @Test("archive and back up to local + S3, lose the local repository, restore to a time from S3 alone",
              .timeLimit(.minutes(15)))
        func restoreFromS3Alone() async throws {
            let moto = try await MotoServer.start(signatureChecking: false)
            defer { moto.stop() }
            try moto.createBucket(Self.bucket)
            let proxy = try FaultProxy(upstreamPort: moto.port)
            defer { proxy.stop() }
            let cluster = try await BackupTestCluster(prefix: "tidemark-it-s3", configuration: ["track_commit_timestamp = on"],
                                                      environment: Self.s3Environment(moto, endpoint: proxy.endpoint))
            defer { cluster.stop() }
            let server = cluster.server
            try await server.psql("create table pitr (id int primary key, note text)")
            _ = try await cluster.commitRows([1, 2, 3])
            let backup = try await cluster.backup("full")
            #expect(backup.1.stdoutText.contains("local") && backup.1.stdoutText.contains("offsite"), "backup to both: \(backup.1.stdoutText)")
            var rows = try await cluster.commitRows(Array(10..<20))
            _ = try await server.switchWAL()
            rows += try await cluster.commitRows(Array(20..<30))
            let last = try await server.switchWAL()
            let status = try await server.waitUntilArchived(last, timeout: .seconds(180))
            #expect(status.failedCount == 0, "archiving to local + S3: \(status)\n\(server.serverLog())")

            let list = try await cluster.list()
            #expect(list.backups.count == 2, "the backup is listed in both repositories: \(list.backups.map(\.id))")
            #expect(Set(list.backups.map(\.id)).count == 1)

            // The local repository is lost.
            try FileManager.default.removeItem(atPath: cluster.repository.directory)
            let target = try #require(rows.first { $0.id == 24 })
            let time = postgresTime(target.micros + 1)
            let (code, plan, planRun) = try await cluster.plan(["--target-time", time])
            #expect(code == 0, "plan from S3 alone: \(planRun)")
            #expect(planRun.stderrText.contains("'local' cannot be used"), "the fallback is said: \(planRun.stderrText)")
            #expect(plan?.lastCommit?.xid == target.xid, "plan predicts row 24's commit last: \(String(describing: plan?.lastCommit))")
            // The secret is only in this shell's environment: the restored server would not have
            // it, so restore refuses before writing anything and says how to fix it.
            let refused = try await cluster.tidemark.run("restore", "--to", cluster.scratch.child("from-s3"), "--target-time", time)
            #expect(refused.exitCode == 3 && refused.stderrText.contains("AWS_SECRET_ACCESS_KEY_FILE"), "\(refused)")
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: cluster.scratch.child("from-s3"))) ?? []).isEmpty)
            // With the secret in a file, the restored server (started with none of these
            // variables) finds S3 through the configuration restore wrote for it.
            let secretFile = cluster.scratch.child("s3.secret")
            try FileManager.default.writeFile(secretFile, Data(moto.secretAccessKey.utf8), mode: 0o600, owner: cluster.user)
            let withFile = cluster.tidemark.with(environment: ["AWS_SECRET_ACCESS_KEY": "", "AWS_SECRET_ACCESS_KEY_FILE": secretFile])
            let dir = cluster.scratch.child("from-s3")
            let restoreRun = try await ChildProcess.run(withFile.command(["restore", "--to", dir, "--target-action", "promote", "--target-time", time]))
            try #require(restoreRun.exitCode == 0, "restore from S3 with the secret in a file: \(restoreRun)")
            #expect(restoreRun.stdoutText.contains("restore_command checked"), "\(restoreRun.stdoutText)")
            let written = try String(contentsOfFile: dir + "/tidemark.restore.json", encoding: .utf8)
            #expect(written.contains(secretFile) && !written.contains(moto.secretAccessKey), "secrets only by file reference: \(written)")
            let restored = try await cluster.startRestored(dir, name: "from-s3")
            let ids = try await restored.psql("select coalesce(string_agg(id::text, ',' order by id), '') from pitr")
                .split(separator: ",").compactMap { Int($0) }
            #expect(ids == [1, 2, 3] + Array(10...24), "restored from S3 alone to \(time): \(ids)")
            let autoConf = try String(contentsOfFile: restored.dataDirectory + "/postgresql.auto.conf", encoding: .utf8)
            #expect(autoConf.contains("wal-fetch --repo offsite"), "\(autoConf)")
            restored.stop()
        }

        /// The S3 server goes away while PostgreSQL archives: wal-push fails (PostgreSQL keeps the
        /// segments and retries); once it is back every segment arrives, with no gap.
        @Test("an S3 outage while archiving: wal-push fails, PostgreSQL retries, nothing is lost", .timeLimit(.minutes(15)))
        func outageWhileArchiving() async throws {
            let moto = try await MotoServer.start(signatureChecking: false)
            defer { moto.stop() }
            try moto.createBucket(Self.bucket)
            let proxy = try FaultProxy(upstreamPort: moto.port)
            defer { proxy.stop() }
            let cluster = try await BackupTestCluster(
                prefix: "tidemark-it-s3-outage", configuration: ["wal_keep_size = '1GB'"],
                environment: Self.s3Environment(moto, endpoint: proxy.endpoint).merging(["TIDEMARK_IO_TIMEOUT": "5"]) { $1 })
            defer { cluster.stop() }
            let server = cluster.server
            let before = try await server.switchWAL()
            _ = try await server.waitUntilArchived(before, timeout: .seconds(120))

            proxy.close()
            try await server.psql("create table outage as select g from generate_series(1, 100000) g")
            var switched: [String] = []
            for _ in 0..<3 { switched.append(try await server.switchWAL()) }
            // wal-push must be failing now, and PostgreSQL must have kept the segments.
            let deadline = ContinuousClock.now + .seconds(120)
            var failing = try await server.archiverStatus()
            while failing.failedCount == 0 {
                try #require(ContinuousClock.now < deadline, "no wal-push failure during the outage: \(failing)")
                try await Task.sleep(for: .milliseconds(500))
                failing = try await server.archiverStatus()
            }
            #expect(failing.lastArchivedWAL < switched[0], "nothing may count as archived while S3 is away: \(failing)")
            #expect(server.serverLog().contains("archive command failed"), "PostgreSQL logs the failure")

            try proxy.reopen()
            let status = try await server.waitUntilArchived(switched[2], timeout: .seconds(300), failFast: false)
            #expect(status.lastArchivedWAL >= switched[2])
            // Every segment from before the outage to the last switch is in both repositories.
            let stanzas = try JSONDecoder().decode(MultiInfoJSON.self, from: try await cluster.tidemark.run("info", "--json").stdout).stanzas
            for repository in ["local", "offsite"] {
                let wal = try #require(stanzas.first { $0.repository == repository && $0.name == "main" }?.wal, "\(repository) in info")
                let timeline = try #require(wal.timelines.first { $0.timeline == 1 })
                #expect(timeline.gaps.isEmpty, "gaps in '\(repository)': \(timeline.gaps)")
                #expect(timeline.last >= switched[2], "'\(repository)' ends at \(timeline.last), before \(switched[2])")
            }
            // Fetch the outage's segments back from S3 alone, byte for byte.
            let fetched = try cluster.makeServerDirectory("fetched")
            for name in switched where FileManager.default.fileExists(atPath: server.walDirectory + "/" + name) {
                let run = try await cluster.tidemark.run("wal-fetch", "--repo", "offsite", name, fetched + "/" + name)
                #expect(run.exitCode == 0, "wal-fetch --repo offsite \(name): \(run)")
                if run.exitCode == 0 { try expectSameBytes(fetched + "/" + name, server.walDirectory + "/" + name, name) }
            }
        }
    }
}
