import Foundation
import Testing
import TidemarkTesting

extension PostgreSQLIntegration {
    /// `verify --repair`: the local repository loses a segment and a pack goes bad; the copies
    /// come from S3 (moto), re-encrypted under the local repository's own key.
    @Suite("Verify: --repair from the S3 copy", .tags(.large))
    struct VerifyRepairTests {
        @Test("a deleted segment and a damaged pack in the local repository are repaired from S3; the bytes fetched are the bytes archived",
              .timeLimit(.minutes(10)))
        func repairFromS3() async throws {
            let moto = try await MotoServer.start(signatureChecking: false)
            defer { moto.stop() }
            let bucket = "tidemark-repair"
            try moto.createBucket(bucket)
            let environment = ["AWS_ACCESS_KEY_ID": moto.accessKeyID, "AWS_SECRET_ACCESS_KEY": moto.secretAccessKey, "AWS_REGION": "us-east-1",
                               "AWS_ENDPOINT_URL": moto.endpoint, "AWS_BACKUP_BUCKET": bucket + "/clinic", "TIDEMARK_IO_TIMEOUT": "20"]
            let cluster = try await BackupTestCluster(prefix: "tidemark-it-verify-repair", configuration: ["track_commit_timestamp = on"],
                                                      environment: environment)
            defer { cluster.stop() }
            let server = cluster.server
            try await server.psql("create table pitr (id int primary key, note text)")
            _ = try await cluster.commitRows([1])
            let (full, _) = try await cluster.backup("full")
            _ = try await cluster.commitRows([2])
            let middle = try await server.psql("select pg_walfile_name(pg_current_wal_insert_lsn())")
            try await cluster.archiveEverything()
            _ = try await cluster.commitRows([3])
            try await cluster.archiveEverything()

            let (clean, cleanReport, cleanRun) = try await cluster.verify()
            try #require(clean == 0 && cleanReport?.repositories.map(\.name) == ["local", "offsite"], "both repositories verify: \(cleanRun)")
            let work = try cluster.makeServerDirectory("fetched")
            let before = try await cluster.tidemark.run("wal-fetch", "--repo", "local", middle, work + "/before")
            try #require(before.exitCode == 0, "\(before)")

            // The local copies go: a segment is deleted, a pack gets a flipped byte.
            let segmentPath = cluster.segmentPath(middle)
            try FileManager.default.removeItem(atPath: segmentPath)
            let pack = cluster.repository.directory + "/main/backup/\(full.id)/pack-00001"
            try flipByte(in: pack, at: (try fileSize(pack)) / 3)
            let (broken, brokenReport, brokenRun) = try await cluster.verify(["--sample-percent", "100"])
            #expect(broken == 12, "\(brokenRun)")
            let local = try #require(brokenReport?.repositories.first { $0.name == "local" })
            #expect(local.status == "problems" && local.gaps.map(\.from) == [middle], "\(brokenRun.stdoutText)")
            #expect(local.problems.contains { $0.kind == "damaged" && $0.object.hasSuffix("/pack-00001") }, "\(brokenRun.stdoutText)")
            #expect(brokenReport?.repositories.first { $0.name == "offsite" }?.status == "ok", "\(brokenRun.stdoutText)")

            let (repaired, repairReport, repairRun) = try await cluster.verify(["--repair", "--sample-percent", "100"])
            #expect(repaired == 0, "verify --repair: \(repairRun)")
            let fixed = try #require(repairReport?.repositories.first { $0.name == "local" }, "\(repairRun.stdoutText)")
            #expect(Set(fixed.repaired) == ["main/wal/\(middle.prefix(16))/\(middle)", "main/backup/\(full.id)/pack-00001"] && fixed.status == "ok",
                    "\(repairRun.stdoutText)")
            // The copy is encrypted under the local key (the header's key id, bytes 16-31, is
            // the local repository's), and it decrypts to the bytes archived.
            let keyID = { (path: String) throws -> Data in try FileManager.default.readFile(path).subdata(in: 16..<32) }
            #expect(try keyID(segmentPath) == keyID(cluster.repository.directory + "/main/stanza.info"), "re-encrypted under the local key")
            let after = try await cluster.tidemark.run("wal-fetch", "--repo", "local", middle, work + "/after")
            try #require(after.exitCode == 0, "\(after)")
            try expectSameBytes(work + "/after", work + "/before", "the repaired segment")
            let (again, _, againRun) = try await cluster.verify(["--full", "--repo", "local"])
            #expect(again == 0, "the repaired repository verifies in full: \(againRun)")
            // The repaired backup restores, from the local repository alone.
            let localOnly = cluster.tidemark.with(environment: ["AWS_BACKUP_BUCKET": ""])
            let dir = cluster.scratch.child("repaired")
            let restore = try await ChildProcess.run(localOnly.command(["restore", "--to", dir, "--backup", full.id, "--target-immediate", "--target-action", "promote"]))
            try #require(restore.exitCode == 0, "restore of the repaired backup: \(restore)")
            let restored = try await cluster.startRestored(dir, name: "repaired")
            let ids = try await restored.psql("select coalesce(string_agg(id::text, ',' order by id), '') from pitr")
            restored.stop()
            #expect(ids == "1", "the repaired backup restores exactly: \(ids)")
        }
    }
}
