import Foundation
import Testing
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkS3
import TidemarkSystem

extension StoreConformance.Check: CustomTestStringConvertible {
    public var testDescription: String { name }
}

/// The shared ObjectStore contract against moto with signature checking off (moto#5948 makes
/// checked listings with '/' in query values fail falsely).
@Suite("S3 store conformance (moto)", .tags(.large), .timeLimit(.minutes(5)))
struct S3ConformanceTests {
    @Test(arguments: StoreConformance.all())
    func conformance(_ check: StoreConformance.Check) async throws {
        let moto = try await SharedMoto.unchecked.get()
        try await withStore(moto) { store, _ in
            try await check.run(store)
            #expect(try await store.multipartUploadsInFlight().isEmpty, "no multipart upload may be left open")
        }
    }

    @Test func keysArePrefixedAndLocationHasNoSecrets() async throws {
        let moto = try await SharedMoto.unchecked.get()
        try await withStore(moto, prefix: "pg/main") { store, bucket in
            #expect(store.location == "s3://\(bucket)/pg/main/")
            _ = try await store.put("wal/a", bytes: [1], ifAbsent: true)
            let whole = try S3ObjectStore(moto.configuration(bucket: bucket))
            #expect(try await whole.get("pg/main/wal/a") == [1])
            #expect(try await whole.list(prefix: "").prefixes == ["pg/"])
            await whole.shutdown()
        }
    }

    @Test func smallPageSizePaginates() async throws {
        let moto = try await SharedMoto.unchecked.get()
        let bucket = uniqueBucket("page")
        try moto.createBucket(bucket)
        let store = try S3ObjectStore(moto.configuration(bucket: bucket), pageSize: 7, tamper: nil)
        for i in 0..<30 { _ = try await store.put("p/k\(100 + i)", bytes: [UInt8(i)], ifAbsent: true) }
        for i in 0..<5 { _ = try await store.put("p/d\(i)/x", bytes: [1], ifAbsent: true) }
        let listing = try await store.list(prefix: "p/")
        #expect(listing.objects.count == 30)
        #expect(listing.prefixes == (0..<5).map { "p/d\($0)/" })
        try await store.removeAll(prefix: "p/")
        #expect(try await store.list(prefix: "p/").objects.isEmpty)
        await store.shutdown()
    }

    @Test func missingBucketIsAnErrorNotNil() async throws {
        let moto = try await SharedMoto.unchecked.get()
        let store = try S3ObjectStore(moto.configuration(bucket: "no-such-bucket-here"))
        await #expect(throws: StorageError.self) { _ = try await store.get("x") }
        await #expect(throws: StorageError.self) { _ = try await store.list(prefix: "") }
        await store.shutdown()
    }
}

/// A smaller suite with moto verifying every signature: keys of [A-Za-z0-9._/-] and no '/' in
/// query values (moto#5948).
@Suite("S3 store with signature checking (moto)", .tags(.large), .timeLimit(.minutes(5)))
struct S3SignedTests {
    @Test func putGetHeadDeleteAndMultipart() async throws {
        let moto = try await SharedMoto.checked.get()
        try await withStore(moto, prefix: "") { store, _ in
            let bytes = StoreConformance.pattern(1000, seed: 1)
            #expect(try await store.put("wal/0000000100000000000000A1", bytes: bytes, ifAbsent: true) == .created)
            #expect(try await store.put("wal/0000000100000000000000A1", bytes: [1], ifAbsent: true) == .alreadyExists)
            #expect(try await store.get("wal/0000000100000000000000A1") == bytes)
            #expect(try await store.get("wal/0000000100000000000000A1", range: 10..<20) == Array(bytes[10..<20]))
            #expect(try await store.size("wal/0000000100000000000000A1") == 1000)
            #expect(try await store.get("wal/missing") == nil)
            let large = StoreConformance.pattern((11 << 20) + 5, seed: 2)
            #expect(try await store.put("base/b1/data.pack", bytes: large, ifAbsent: true) == .created)
            #expect(try await store.get("base/b1/data.pack") == large)
            try await store.delete("wal/0000000100000000000000A1")
            #expect(try await store.get("wal/0000000100000000000000A1") == nil)
        }
    }

    @Test func aWrongSecretIsRejectedAndReportedAsSuch() async throws {
        let moto = try await SharedMoto.checked.get()
        let bucket = uniqueBucket("auth")
        try moto.createBucket(bucket)
        let wrong = "definitely-not-the-secret-0123456789"
        let store = try S3ObjectStore(moto.configuration(bucket: bucket, secret: wrong))
        do {
            _ = try await store.put("k", bytes: [1], ifAbsent: true)
            Issue.record("a wrong secret must be refused")
        } catch let error as StorageError {
            #expect(error.code == .authentication)
            #expect(error.message.contains("SignatureDoesNotMatch"))
            #expect(error.message.contains("AWS_SECRET_ACCESS_KEY"))
            #expect(!error.message.contains(wrong) && !error.message.contains(moto.secretAccessKey))
        }
        await store.shutdown()
        let good = try S3ObjectStore(moto.configuration(bucket: bucket))
        #expect(try await good.get("k") == nil, "nothing was written with the wrong secret")
        await good.shutdown()
    }

    @Test func anAlteredDateIsRejected() async throws {
        let moto = try await SharedMoto.checked.get()
        let bucket = uniqueBucket("date")
        try moto.createBucket(bucket)
        let store = try S3ObjectStore(moto.configuration(bucket: bucket), pageSize: 1000, tamper: { headers in
            // Sent an hour later than signed: the signature no longer matches.
            if let i = headers.firstIndex(where: { $0.0 == "x-amz-date" }) {
                let d = headers[i].1
                let hour = ((Int(d.dropFirst(9).prefix(2)) ?? 0) + 1) % 24
                headers[i].1 = String(d.prefix(9)) + (hour < 10 ? "0\(hour)" : "\(hour)") + String(d.dropFirst(11))
            }
        })
        await #expect { _ = try await store.put("k", bytes: [1], ifAbsent: true) } throws: { error in
            (error as? StorageError)?.code == .authentication
        }
        await store.shutdown()
    }
}

@Suite("S3 transport safety", .tags(.large), .timeLimit(.minutes(2)))
struct S3TransportSafetyTests {
    @Test func tlsIsVerifiedAndItsFailureIsNotRetried() async throws {
        let moto = try await SharedMoto.unchecked.get()
        // moto speaks plain HTTP: a TLS handshake with it fails, and must fail at once.
        var config = try moto.configuration(bucket: "tls-bucket", deadline: 20)
        config.endpoint = "https://127.0.0.1:\(moto.port)"
        let store = try S3ObjectStore(config)
        let start = ContinuousClock.now
        await #expect { _ = try await store.get("x") } throws: { error in
            guard let e = error as? StorageError else { return false }
            return e.code == .io && e.message.contains("TLS")
        }
        // async-http-client itself keeps trying to connect until its connect timeout (10 s); no retry of ours follows.
        #expect(ContinuousClock.now - start < .seconds(15), "a TLS failure is not retried until the deadline")
        await store.shutdown()
    }

    @Test func aMissingCABundleIsAConfigurationError() throws {
        #expect(throws: StorageError.self) {
            _ = try S3ObjectStore(S3Configuration(
                endpoint: "https://s3.example.com", bucket: "b-1",
                credentials: S3Credentials(accessKeyID: "a", secretAccessKey: S3Secret("b")), caBundlePath: "/nonexistent/ca.pem"))
        }
    }

    @Test func aWrongSecretOnHeadIsStillReportedAsSuch() async throws {
        let moto = try await SharedMoto.checked.get()
        let bucket = uniqueBucket("head")
        try moto.createBucket(bucket)
        let store = try S3ObjectStore(moto.configuration(bucket: bucket, secret: "wrong-secret-value"))
        await #expect { _ = try await store.size("k") } throws: { error in
            (error as? StorageError)?.code == .authentication
        }
        await store.shutdown()
    }
}
