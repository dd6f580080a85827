import Foundation
import Testing
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkS3
import TidemarkSystem

/// Fail fast where waiting helps nobody (docs/s3.md): a store nobody listens for fails after a
/// few quick attempts, not at the operation deadline; a stalled transfer keeps the deadline.
@Suite("S3 store that cannot be reached", .serialized, .tags(.large), .timeLimit(.minutes(2)))
struct S3UnreachableTests {
    /// The production defaults (a 60 s deadline, 8 attempts) against `endpoint`.
    func store(_ endpoint: String, deadline: Double = 60) throws -> S3ObjectStore {
        try S3ObjectStore(S3Configuration(
            endpoint: endpoint, bucket: "tm-unreachable", credentials: S3Credentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: S3Secret("secret")),
            operationDeadline: deadline, readTimeout: min(deadline, 10)))
    }

    @Test func aRefusedConnectionFailsInSecondsNamingTheEndpoint() async throws {
        // A port bound but never listened on: connecting is refused, and while the socket is
        // held no other test can start listening there.
        let refusing = try RefusingPort()
        defer { refusing.close() }
        let endpoint = "http://127.0.0.1:\(refusing.port)"
        let s3 = try store(endpoint)
        let start = ContinuousClock.now
        var caught: StorageError?
        do {
            _ = try await s3.put("wal/refused", bytes: [1, 2, 3], ifAbsent: true)
        } catch {
            caught = error as? StorageError
        }
        let elapsed = ContinuousClock.now - start
        await s3.shutdown()
        let error = try #require(caught, "a put to a port nobody listens on must fail with a StorageError")
        #expect(elapsed < .seconds(5), "refused after quick retries, not at the 60 s deadline: \(elapsed)")
        #expect(error.code == .io, "\(error)")
        #expect(error.message.contains(endpoint) && error.message.contains("connection refused"), "\(error.message)")
        #expect(error.message.contains("gave up after 4 attempts"), "\(error.message)")
        #expect(error.message.contains("\nHINT: "), "\(error.message)")
    }

    @Test func aHostNameThatDoesNotResolveFailsInSeconds() async throws {
        // .invalid never resolves (RFC 6761); http:// is allowed only for loopback names, so https.
        let s3 = try store("https://tidemark-test.invalid")
        let start = ContinuousClock.now
        var caught: StorageError?
        do {
            _ = try await s3.get("wal/nowhere")
        } catch {
            caught = error as? StorageError
        }
        let elapsed = ContinuousClock.now - start
        await s3.shutdown()
        let error = try #require(caught)
        #expect(elapsed < .seconds(10), "\(elapsed)")
        #expect(error.message.contains("tidemark-test.invalid") && error.message.contains("does not resolve"), "\(error.message)")
    }

    @Test func aStalledServerIsStillBoundedByTheDeadline() async throws {
        // Accepts, reads, never answers: connected, so not "unreachable"; the 2 s deadline ends it.
        let moto = try await SharedMoto.unchecked.get()
        let proxy = try FaultProxy(upstreamPort: moto.port)
        defer { proxy.stop() }
        proxy.inject(.stall(seconds: 30), count: 1000)
        let s3 = try store(proxy.endpoint, deadline: 2)
        let start = ContinuousClock.now
        var caught: StorageError?
        do {
            _ = try await s3.put("wal/stalled", bytes: [1], ifAbsent: true)
        } catch {
            caught = error as? StorageError
        }
        let elapsed = ContinuousClock.now - start
        await s3.shutdown()
        let error = try #require(caught)
        #expect(error.code == .timeout, "\(error)")
        #expect(elapsed >= .seconds(2) && elapsed < .seconds(6), "\(elapsed)")
    }
}
