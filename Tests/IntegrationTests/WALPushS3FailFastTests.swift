import Foundation
import Testing
import TidemarkCore
import TidemarkTesting

/// `wal-push` through the real binary when the required S3 repository is unreachable or stalls
/// (docs/s3.md, "A store that cannot be reached fails fast"; docs/exit-codes.md, 7): a refused
/// connection fails in seconds naming the endpoint, a stalled one at `ioTimeoutSeconds`, never
/// with exit 0.
@Suite("wal-push: unreachable and stalled S3", .tags(.walArchive), .timeLimit(.minutes(3)))
struct WALPushS3FailFastTests {
    let user = try? SystemUser.serverUser()
    static let bucket = "tidemark-failfast"

    /// A local repository (BACKUP_DIR) and S3 at `endpoint`, both required, initialized through
    /// moto directly; the archiver off, so each push is the command's own.
    func setUp(_ scratch: ScratchDirectory, _ moto: MotoServer) async throws -> TidemarkRunner {
        try moto.createBucket(Self.bucket)
        let repository = try RepositoryFixture.create(in: scratch, owner: user)
        let environment = repository.environment.merging([
            "AWS_ACCESS_KEY_ID": moto.accessKeyID, "AWS_SECRET_ACCESS_KEY": moto.secretAccessKey, "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": moto.endpoint, "AWS_BACKUP_BUCKET": Self.bucket + "/clinic", "TIDEMARK_ARCHIVER_AUTOSTART": "0",
        ]) { $1 }
        let tidemark = TidemarkRunner(binary: try TidemarkBinary.install(), environment: environment, user: user, timeout: .seconds(90))
        let initialized = try await tidemark.run("init")
        try #require(initialized.exitCode == 0, "init of local + S3: \(initialized)")
        return tidemark
    }

    func segment(_ scratch: ScratchDirectory, _ name: String) throws -> String {
        let bytes = SyntheticWAL.segment(try #require(WALSegmentName(name)), size: try #require(WALSegmentSize(rawValue: 1 << 20)))
        let path = scratch.child(name)
        try FileManager.default.writeFile(path, Data(bytes), mode: 0o644, owner: user)
        return path
    }

    @Test func aRefusedConnectionFailsInSecondsWithExit7NamingTheEndpoint() async throws {
        let moto = try await MotoServer.start(signatureChecking: false)
        defer { moto.stop() }
        let scratch = try ScratchDirectory(prefix: "tm-it-s3-refused", owner: user)
        let tidemark = try await setUp(scratch, moto)
        let first = try await tidemark.run("wal-push", try segment(scratch, "000000010000000000000001"))
        try #require(first.exitCode == 0, "a push while S3 answers: \(first)")

        let refusing = try RefusingPort()
        defer { refusing.close() }
        let away = tidemark.with(environment: ["AWS_ENDPOINT_URL": refusing.endpoint, "TIDEMARK_IO_TIMEOUT": "60"])
        let start = ContinuousClock.now
        let refused = try await away.run("wal-push", try segment(scratch, "000000010000000000000002"))
        let elapsed = ContinuousClock.now - start
        #expect(refused.exitCode == 7, "\(refused)")
        #expect(elapsed < .seconds(15), "fails after a few quick attempts, not at the 60 s deadline: \(elapsed)")
        #expect(refused.stderrText.contains(refusing.endpoint) && refused.stderrText.contains("connection refused"), "\(refused.stderrText)")
        #expect(refused.stderrText.contains("gave up after 4 attempts") && refused.stderrText.contains("HINT:"), "\(refused.stderrText)")
        #expect(!refused.stderrText.contains(moto.secretAccessKey))
    }

    @Test func aStalledStoreFailsAtTheIOTimeoutWithExit7() async throws {
        let moto = try await MotoServer.start(signatureChecking: false)
        defer { moto.stop() }
        let proxy = try FaultProxy(upstreamPort: moto.port)
        defer { proxy.stop() }
        let scratch = try ScratchDirectory(prefix: "tm-it-s3-stalled", owner: user)
        let tidemark = try await setUp(scratch, moto).with(environment: ["AWS_ENDPOINT_URL": proxy.endpoint, "TIDEMARK_IO_TIMEOUT": "3"])
        let first = try await tidemark.run("wal-push", try segment(scratch, "000000010000000000000001"))
        try #require(first.exitCode == 0, "a push through the proxy: \(first)")

        proxy.inject(.stall(seconds: 60), count: 10_000)
        let start = ContinuousClock.now
        let stalled = try await tidemark.run("wal-push", try segment(scratch, "000000010000000000000002"))
        let elapsed = ContinuousClock.now - start
        #expect(stalled.exitCode == 7, "\(stalled)")
        #expect(elapsed >= .seconds(3) && elapsed < .seconds(20), "bounded by ioTimeoutSeconds (3 s), not the 60 s stall: \(elapsed)")
        #expect(stalled.stderrText.contains("deadline") && stalled.stderrText.contains("HINT:"), "\(stalled.stderrText)")
        #expect(!stalled.stderrText.contains("unreachable"), "a connected, stalled store is not 'unreachable': \(stalled.stderrText)")
    }
}
