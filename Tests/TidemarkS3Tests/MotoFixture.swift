import Foundation
import TidemarkS3
import TidemarkStorage
import TidemarkTesting
import TidemarkSystem

/// One moto server per kind for the whole test process (each test uses buckets of its own).
/// moto's watchdog ends it when the test process ends.
actor SharedMoto {
    static let unchecked = SharedMoto(signatureChecking: false)
    static let checked = SharedMoto(signatureChecking: true)

    let signatureChecking: Bool
    private var server: MotoServer?
    init(signatureChecking: Bool) { self.signatureChecking = signatureChecking }

    func get() async throws -> MotoServer {
        if let server { return server }
        let started = try await MotoServer.start(signatureChecking: signatureChecking)
        server = started
        return started
    }
}

/// A fresh bucket name.
func uniqueBucket(_ stem: String) -> String {
    "\(stem)-\(UUID().uuidString.lowercased().prefix(13))".replacingOccurrences(of: "--", with: "-")
}

/// Runs `body` with a store on a fresh bucket, then shuts the store down.
func withStore<T>(
    _ moto: MotoServer, bucket: String? = nil, prefix: String = "repo/", endpoint: String? = nil, secret: String? = nil,
    deadline: Double = 60, readTimeout: Double = 10, retry: S3RetryPolicy = S3RetryPolicy(maxAttempts: 6, baseBackoff: 0.05, maxBackoff: 0.5),
    _ body: (S3ObjectStore, String) async throws -> T
) async throws -> T {
    let bucket = bucket ?? uniqueBucket("tm")
    try moto.createBucket(bucket)
    let store = try S3ObjectStore(moto.configuration(
        bucket: bucket, prefix: prefix, endpoint: endpoint, secret: secret, deadline: deadline, readTimeout: readTimeout, retry: retry))
    do {
        let result = try await body(store, bucket)
        await store.shutdown()
        return result
    } catch {
        await store.shutdown()
        throw error
    }
}
