#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import TidemarkCore
import TidemarkPolicy
import TidemarkSystem

/// Who made a request: the token's name and scope, and the client's address.
public struct APICaller: Sendable, Equatable {
    public var name: String
    public var scope: APIToken.Scope
    public var client: String
}

/// Bearer tokens checked against the stored hashes (every hash compared, each in constant
/// time) and CRON_SECRET; failed attempts limited per client address (10 a minute, then 429
/// with Retry-After). The tokens are re-read from the repositories at most every 10 s, and at
/// once (at most every 2 s) when an unknown token is presented, so a token just created works.
public actor APIAuthenticator {
    public enum Failure: Sendable, Equatable {
        case missing, wrong, limited(retryAfter: Int)
    }

    let load: @Sendable () async -> [APIToken]
    let cronSecret: [UInt8]?
    let clock: @Sendable () -> Double
    var tokens: [APIToken] = []
    var loadedAt = -Double.infinity
    var limiter: FailedAttemptLimiter

    public init(cronSecret: Secret?, limiter: FailedAttemptLimiter = FailedAttemptLimiter(),
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
                load: @escaping @Sendable () async -> [APIToken]) {
        self.cronSecret = cronSecret?.bytes
        self.limiter = limiter
        self.clock = clock
        self.load = load
    }

    /// The caller, or why not; `reachedLimit` is true for the failure that reached the limit.
    public func authenticate(_ header: String?, client: String) async -> (Result<APICaller, FailureBox>, reachedLimit: Bool) {
        let now = clock()
        // No token guesses nothing: 401, not counted, whatever the limit says.
        guard let header, header.utf8.count > 7, header.prefix(7).lowercased() == "bearer " else {
            return (.failure(FailureBox(.missing)), false)
        }
        if let wait = limiter.retryAfter(client, now: now) { return (.failure(FailureBox(.limited(retryAfter: Int(wait)))), false) }
        let given = trimmedSecret(Array(header.utf8.dropFirst(7)))
        if let caller = await match(given, client: client, now: now, reload: false) { return (.success(caller), false) }
        if let caller = await match(given, client: client, now: now, reload: true) { return (.success(caller), false) }
        let reached = limiter.recordFailure(client, now: now)
        return (.failure(FailureBox(.wrong)), reached)
    }

    func match(_ given: [UInt8], client: String, now: Double, reload: Bool) async -> APICaller? {
        if reload ? now - loadedAt >= 2 : now - loadedAt >= 10 {
            loadedAt = now
            tokens = await load()
        } else if reload {
            return nil
        }
        var found: APICaller?
        if let cronSecret, APIToken.constantTimeEqual(given, cronSecret) {
            found = APICaller(name: "CRON_SECRET", scope: .cron, client: client)
        }
        let hash = Array(APIToken.hash(given).utf8)
        for t in tokens where APIToken.constantTimeEqual(hash, Array(t.sha256.utf8)) {
            found = APICaller(name: t.name, scope: t.scope, client: client)
        }
        return found
    }

    public struct FailureBox: Error, Sendable, Equatable {
        public var failure: Failure
        init(_ failure: Failure) { self.failure = failure }
    }
}
