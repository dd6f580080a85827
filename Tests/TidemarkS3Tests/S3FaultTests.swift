import Foundation
import Testing
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkS3
import TidemarkSystem

/// Faults between Tidemark and moto (FaultProxy): a put either succeeds with the exact bytes or
/// fails; no partial or corrupt object is ever visible; no multipart upload is left open.
@Suite("S3 store under faults", .serialized, .tags(.large), .timeLimit(.minutes(5)))
struct S3FaultTests {
    /// A store through a fresh proxy, plus a direct store on the same bucket to look behind it.
    func withProxied(
        deadline: Double = 30, readTimeout: Double = 2, maxAttempts: Int = 6,
        _ body: (S3ObjectStore, S3ObjectStore, FaultProxy) async throws -> Void
    ) async throws {
        let moto = try await SharedMoto.unchecked.get()
        let proxy = try FaultProxy(upstreamPort: moto.port)
        defer { proxy.stop() }
        let bucket = uniqueBucket("fault")
        try await withStore(moto, bucket: bucket) { direct, _ in
            try await withStore(moto, bucket: bucket, endpoint: proxy.endpoint, deadline: deadline, readTimeout: readTimeout,
                retry: S3RetryPolicy(maxAttempts: maxAttempts, baseBackoff: 0.05, maxBackoff: 0.3)) { proxied, _ in
                try await body(proxied, direct, proxy)
            }
            #expect(try await direct.multipartUploadsInFlight().isEmpty, "no multipart upload may be left open")
        }
    }

    /// Either `.created` with the exact bytes stored, or an error and nothing stored.
    func expectAllOrNothing(_ outcome: Result<PutOutcome, any Error>, _ key: String, _ bytes: [UInt8], _ direct: S3ObjectStore) async throws {
        let stored = try await direct.get(key)
        switch outcome {
        case .success(let o):
            #expect(o == .created)
            #expect(stored == bytes, "a reported success must leave the exact bytes")
        case .failure(let error):
            #expect(error is StorageError, "failures are StorageErrors: \(error)")
            #expect(stored == nil || stored == bytes, "a failed put must leave nothing (or, if it landed, the exact bytes)")
        }
    }

    func put(_ store: S3ObjectStore, _ key: String, _ bytes: [UInt8]) async -> Result<PutOutcome, any Error> {
        do { return .success(try await store.put(key, bytes: bytes, ifAbsent: true)) } catch { return .failure(error) }
    }

    @Test(arguments: [500, 503, 429])
    func errorStatusesAreRetried(_ status: Int) async throws {
        try await withProxied { (store: S3ObjectStore, direct: S3ObjectStore, proxy: FaultProxy) async throws -> Void in
            let bytes = StoreConformance.pattern(70_000, seed: 7)
            proxy.inject(.status(status), count: 3)
            #expect(try await store.put("wal/a", bytes: bytes, ifAbsent: true) == .created)
            #expect(try await direct.get("wal/a") == bytes)
            proxy.inject(.status(status), count: 2)
            #expect(try await store.get("wal/a") == bytes)
            #expect(proxy.counts.faults == 5)
        }
    }

    @Test func aStallEndsInATimeoutAndNoObject() async throws {
        try await withProxied(deadline: 3, readTimeout: 1) { (store: S3ObjectStore, direct: S3ObjectStore, proxy: FaultProxy) async throws -> Void in
            proxy.inject(.stall(seconds: 30), count: 1000)
            let start = ContinuousClock.now
            let outcome = await put(store, "wal/stalled", [1, 2, 3])
            #expect(ContinuousClock.now - start < .seconds(8), "the deadline holds")
            guard case .failure(let error) = outcome else {
                Issue.record("a stalled put must fail")
                return
            }
            #expect((error as? StorageError)?.code == .timeout, "\(error)")
            #expect(try await direct.get("wal/stalled") == nil)
            proxy.clearFaults()
        }
    }

    @Test func aStallOnceIsRetried() async throws {
        try await withProxied(deadline: 20, readTimeout: 1) { (store: S3ObjectStore, direct: S3ObjectStore, proxy: FaultProxy) async throws -> Void in
            proxy.inject(.stall(seconds: 10), count: 1)
            #expect(try await store.put("wal/s", bytes: [4, 5], ifAbsent: true) == .created)
            #expect(try await direct.get("wal/s") == [4, 5])
        }
    }

    @Test(arguments: [1, 1000])
    func requestsCutMidBody(_ times: Int) async throws {
        try await withProxied(deadline: 10) { (store: S3ObjectStore, direct: S3ObjectStore, proxy: FaultProxy) async throws -> Void in
            let bytes = StoreConformance.pattern(300_000, seed: 9)
            proxy.inject(.cutRequest(afterBytes: 1200 + 100_000), count: times, method: "PUT")
            let outcome = await put(store, "wal/cut", bytes)
            proxy.clearFaults()
            try await expectAllOrNothing(outcome, "wal/cut", bytes, direct)
            if times == 1 { #expect(try await direct.get("wal/cut") == bytes) }
        }
    }

    @Test func responsesCutMidBodyAfterTheServerStoredTheObject() async throws {
        try await withProxied { (store: S3ObjectStore, direct: S3ObjectStore, proxy: FaultProxy) async throws -> Void in
            let bytes = StoreConformance.pattern(50_000, seed: 10)
            // The PUT lands, its answer is lost: the retry meets 412 and must recognise its own object.
            proxy.inject(.cutResponse(afterBytes: 20), count: 1, method: "PUT")
            #expect(try await store.put("wal/lost-answer", bytes: bytes, ifAbsent: true) == .created)
            #expect(try await direct.get("wal/lost-answer") == bytes)
            // A GET whose body is cut is retried, never returned short.
            proxy.inject(.cutResponse(afterBytes: 400), count: 2, method: "GET")
            #expect(try await store.get("wal/lost-answer") == bytes)
        }
    }

    @Test(arguments: [false, true])
    func multipartUnderFaults(_ permanent: Bool) async throws {
        try await withProxied(deadline: permanent ? 8 : 60) { (store: S3ObjectStore, direct: S3ObjectStore, proxy: FaultProxy) async throws -> Void in
            let bytes = StoreConformance.pattern((12 << 20) + 77, seed: 12)
            if permanent {
                proxy.inject(.cutRequest(afterBytes: 1 << 20), count: 100_000, method: "PUT")
            } else {
                proxy.inject(.status(503), count: 2, method: "PUT")
                proxy.inject(.cutRequest(afterBytes: 1 << 20), count: 2, method: "PUT")
                proxy.inject(.cutResponse(afterBytes: 10), count: 1, method: "POST")
            }
            let outcome = await put(store, "base/big", bytes)
            proxy.clearFaults()
            try await expectAllOrNothing(outcome, "base/big", bytes, direct)
            if permanent {
                #expect((try? outcome.get()) == nil, "a put whose every part upload is cut fails")
            } else {
                #expect((try? outcome.get()) == .created, "transient faults are retried")
            }
        }
    }

    @Test func anOutageFailsClearlyAndRecovers() async throws {
        try await withProxied(deadline: 4) { (store: S3ObjectStore, direct: S3ObjectStore, proxy: FaultProxy) async throws -> Void in
            proxy.close()
            let start = ContinuousClock.now
            let outcome = await put(store, "wal/outage", [1])
            #expect(ContinuousClock.now - start < .seconds(10))
            guard case .failure(let error as StorageError) = outcome else {
                Issue.record("a put during an outage must fail with a StorageError")
                return
            }
            #expect(error.message.contains("wal/outage"))
            #expect(try await direct.get("wal/outage") == nil)
            try proxy.reopen()
            #expect(try await store.put("wal/outage", bytes: [1], ifAbsent: true) == .created)
            #expect(try await direct.get("wal/outage") == [1])
        }
    }
}
