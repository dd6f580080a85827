import Testing
import TidemarkStorage
@testable import TidemarkS3

/// What the S3 store declares, without a server: nothing is sent until the first call.
@Suite("S3 store capabilities")
struct S3CapabilitiesTests {
    func store(endpoint: String?) throws -> S3ObjectStore {
        try S3ObjectStore(S3Configuration(
            endpoint: endpoint, region: "eu-west-1", bucket: "b-1",
            credentials: S3Credentials(accessKeyID: "a", secretAccessKey: S3Secret("b"))))
    }

    @Test func awsListsReadAfterWriteAndOtherEndpointsEventually() async throws {
        let aws = try store(endpoint: nil)
        #expect(aws.capabilities == StoreCapabilities(conditionalCreate: .atomic, rangedReads: .native, listing: .readAfterWrite))
        await aws.shutdown()
        let other = try store(endpoint: "https://minio.example.com:9000")
        #expect(other.capabilities == StoreCapabilities(conditionalCreate: .atomic, rangedReads: .native, listing: .eventual))
        await other.shutdown()
    }

    /// Once a server answered that it does not support `If-None-Match: *`, creates are HEAD then
    /// PUT, and the store says so.
    @Test func aServerWithoutConditionalWritesMakesCreatesCheckThenWrite() async throws {
        let s3 = try store(endpoint: nil)
        s3.conditionalWritesUnsupported.withLock { $0 = true }
        #expect(s3.capabilities.conditionalCreate == .checkThenWrite)
        #expect(InstrumentedStore(wrapping: s3) { _ in }.capabilities.conditionalCreate == .checkThenWrite)
        await s3.shutdown()
    }
}
