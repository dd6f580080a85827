import AsyncHTTPClient
import Crypto
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization
import TidemarkStorage

#if canImport(Glibc)
import Glibc
#endif
import TidemarkSystem

/// One S3 request before signing: the key is the full key in the bucket (prefix included), nil
/// for bucket-level calls.
struct S3Request: Sendable {
    var method: HTTPMethod
    var key: String?
    var query: [(String, String)] = []
    var headers: [(String, String)] = []
    var body: [UInt8] = []
    /// The most bytes of response body to accept.
    var maxResponseBytes: Int = 1 << 24
}

struct S3Response: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]

    var errorBody: (code: String, message: String)? {
        guard let root = XMLElement.parse(body), root.name == "Error" else { return nil }
        return (root["Code"] ?? "", root["Message"] ?? "")
    }
    /// The ETag without its quotes.
    var etag: String? {
        headers.first(name: "etag").map { $0.replacingQuotes }
    }
    var contentLength: Int64? { headers.first(name: "content-length").flatMap { Int64($0) } }
}

extension String {
    var replacingQuotes: String { String(filter { $0 != "\"" }) }
}

/// Signs, sends and retries S3 requests over one `HTTPClient` (owned here, shut down by
/// `shutdown()`).
///
/// Retries cannot lose data: a request is retried only after a failure that the server either
/// did not act on (5xx, 429, SlowDown, RequestTimeout) or may have acted on idempotently (a
/// reset or a timeout: a PUT is retried whole and verified afterwards by the caller). Every
/// operation has a hard deadline; past it the caller gets `StorageError.timeout`.
final class S3Transport: Sendable {
    let client: HTTPClient
    let config: S3Configuration
    let endpoint: Endpoint
    private let isShutDown = Mutex(false)
    /// Test hook: changes the headers after signing (to prove that tampering is refused).
    let tamper: (@Sendable (inout [(String, String)]) -> Void)?
    let logger: Logger

    init(
        config: S3Configuration, logger: Logger = Logger(label: "tidemark.s3"),
        tamper: (@Sendable (inout [(String, String)]) -> Void)? = nil
    ) throws(StorageError) {
        self.config = config
        self.logger = logger
        self.endpoint = try Endpoint.parse(config.endpoint, variable: "AWS_ENDPOINT_URL")
        self.tamper = tamper
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .fullVerification
        if let bundle = config.caBundlePath {
            guard access(bundle, R_OK) == 0 else {
                throw StorageError(.invalidConfiguration, key: bundle,
                    message: "unable to read CA bundle '\(bundle)'\nHINT: set AWS_CA_BUNDLE to a readable PEM file")
            }
            tls.trustRoots = .file(bundle)
        }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: .milliseconds(Int64(config.readTimeout * 1000))))
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, config.concurrency * 2))
        // A failed connection set-up fails the request at once; `send` decides what to retry
        // (S3Transport+Reachability.swift).
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.decompression = .disabled
        configuration.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    deinit {
        // The store was dropped without `shutdown()`: shut the client down in the background
        // (it keeps itself alive until done), so that neither a debug assertion nor a leak follows.
        if !isShutDown.withLock({ $0 }) { client.shutdown { _ in } }
    }

    func shutdown() async {
        let first = isShutDown.withLock { done in
            defer { done = true }
            return !done
        }
        if first { try? await client.shutdown() }
    }

    // MARK: addressing

    /// The host header and the unencoded path for a key (nil: the bucket itself).
    func target(for key: String?) -> (host: String, path: String) {
        switch config.addressing {
        case .path:
            return (endpoint.hostHeader, "/" + config.bucket + (key.map { "/" + $0 } ?? "/"))
        case .virtual:
            let host = config.bucket + "." + endpoint.hostHeader
            return (host, "/" + (key ?? ""))
        }
    }

    /// `s3://bucket/key` for messages.
    func display(_ key: String?) -> String { "s3://\(config.bucket)/\(key ?? "")" }

    // MARK: one attempt

    func attempt(_ request: S3Request, deadline: ContinuousClock.Instant) async throws -> S3Response {
        let (host, path) = target(for: request.key)
        let payloadHash = SigV4.sha256Hex(request.body)
        let date = SigV4.amzDate(unixSeconds: Int64(time(nil)))
        var headers = request.headers
        headers.append(("host", host))
        headers.append(("x-amz-date", date))
        headers.append(("x-amz-content-sha256", payloadHash))
        if let token = config.credentials.sessionToken { headers.append(("x-amz-security-token", token.value)) }
        let signature = SigV4.sign(
            SigV4.Request(method: request.method.rawValue, path: path, query: request.query, headers: headers, payloadHash: payloadHash),
            accessKeyID: config.credentials.accessKeyID, secret: config.credentials.secretAccessKey,
            date: date, region: config.region, service: "s3")
        headers.append(("authorization", signature.authorization))
        tamper?(&headers)

        let query = request.query.isEmpty ? "" : "?" + request.query.map { name, value in
            value.isEmpty && (name == "uploads" || name == "delete") ? name : SigV4.uriEncode(name) + "=" + SigV4.uriEncode(value)
        }.joined(separator: "&")
        let scheme = endpoint.tls ? "https" : "http"
        var http = HTTPClientRequest(url: "\(scheme)://\(host)\(SigV4.canonicalPath(path))\(query)")
        http.method = request.method
        for (name, value) in headers { http.headers.add(name: name, value: value) }
        if !request.body.isEmpty || request.method == .PUT || request.method == .POST {
            http.body = .bytes(ByteBuffer(bytes: request.body))
        }
        let nioDeadline = NIODeadline.now() + .nanoseconds(Int64(max(0, (deadline - .now).inNanoseconds)))
        let response = try await client.execute(http, deadline: nioDeadline)
        var body = [UInt8]()
        if request.method != .HEAD {
            let buffer = try await response.body.collect(upTo: request.maxResponseBytes)
            body = Array(buffer.readableBytesView)
            // A response cut short is a transport failure, not an answer.
            if let expected = response.headers.first(name: "content-length").flatMap(Int.init), expected != body.count {
                throw HTTPClientError.remoteConnectionClosed
            }
        }
        return S3Response(status: Int(response.status.code), headers: response.headers, body: body)
    }

    // MARK: retries and deadlines

    /// Sends `request` until it gets an answer that is not worth retrying, or the deadline or
    /// the attempt limit is reached. Answers the caller must interpret (404, 412, …) are
    /// returned; authentication failures and exhausted retries throw `StorageError`.
    func send(
        _ request: S3Request, operation: String, deadline: ContinuousClock.Instant? = nil,
        attempted: (@Sendable (Int) -> Void)? = nil
    ) async throws -> S3Response {
        let deadline = deadline ?? .now + .seconds(config.operationDeadline)
        let what = "unable to \(operation) '\(display(request.key))'"
        let timeout: @Sendable (String) -> StorageError = { last in
            StorageError(.timeout, key: request.key ?? "",
                message: "\(what): no success within the deadline of \(formatSeconds(self.config.operationDeadline))\(last.isEmpty ? "" : " (last failure: \(last))")")
        }
        let lastFailure = Locked("")
        let start = ContinuousClock.now
        return try await withTimeLimit(deadline, onTimeout: { timeout(lastFailure.withLock { $0 }) }) {
            var attempt = 0
            var unreachableAttempts = 0
            while true {
                attempt += 1
                attempted?(attempt)
                let failure: String
                do {
                    let response = try await self.attempt(request, deadline: deadline)
                    switch self.classify(response) {
                    case .answer:
                        return response
                    case .authentication(let code, let message):
                        throw self.authenticationError(code: code, message: message, what: what, key: request.key)
                    case .retry(let why):
                        failure = why
                    }
                } catch let error as StorageError {
                    throw error
                } catch {
                    if Task.isCancelled || error is CancellationError { throw timeout(lastFailure.withLock { $0 }) }
                    if let fatal = Self.fatalTransportError(error) {
                        throw StorageError(.io, key: request.key ?? "", message: "\(what): \(fatal)")
                    }
                    if let why = Self.unreachable(error) {
                        // Connect-phase failure: a few quick attempts, then fail (not the deadline).
                        unreachableAttempts += 1
                        lastFailure.withLock { $0 = why }
                        guard unreachableAttempts <= Self.unreachableBackoff.count else {
                            throw self.unreachableError(why, what: what, key: request.key, attempts: attempt, since: start)
                        }
                        self.logger.debug("s3 store unreachable, will retry", metadata: [
                            "storage.key": "\(self.display(request.key))", "s3.operation": "\(operation)",
                            "s3.attempt": "\(attempt)", "s3.failure": "\(why)",
                        ])
                        let wait = Self.unreachableBackoff[unreachableAttempts - 1]
                        if ContinuousClock.now + .seconds(wait) >= deadline { throw timeout(why) }
                        try? await Task.sleep(for: .seconds(wait))
                        if Task.isCancelled { throw timeout(why) }
                        continue
                    }
                    unreachableAttempts = 0
                    failure = Self.describe(error)
                }
                lastFailure.withLock { $0 = failure }
                // Constant message, data in metadata; never a header value (the secret and the
                // signature stay out of logs).
                self.logger.debug("s3 request failed, will retry", metadata: [
                    "storage.key": "\(self.display(request.key))", "s3.operation": "\(operation)",
                    "s3.attempt": "\(attempt)", "s3.failure": "\(failure)",
                ])
                if attempt >= self.config.retry.maxAttempts {
                    throw StorageError(.io, key: request.key ?? "",
                        message: "\(what): gave up after \(attempt) attempts; last failure: \(failure)")
                }
                let cap = min(self.config.retry.maxBackoff, self.config.retry.baseBackoff * Double(1 << min(attempt - 1, 20)))
                let wait = Double.random(in: 0...cap)
                if ContinuousClock.now + .seconds(wait) >= deadline { throw timeout(failure) }
                try? await Task.sleep(for: .seconds(wait))
                if Task.isCancelled { throw timeout(failure) }
            }
        }
    }

    enum Verdict {
        case answer
        case retry(String)
        case authentication(code: String, message: String)
    }

    func classify(_ response: S3Response) -> Verdict {
        let error = response.errorBody
        let code = error?.code ?? ""
        switch response.status {
        case 500, 502, 503, 504:
            return .retry("HTTP \(response.status)\(code.isEmpty ? "" : " \(code)")")
        case 429:
            return .retry("HTTP 429 \(code)")
        default:
            break
        }
        switch code {
        case "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "ConditionalRequestConflict", "OperationAborted":
            return .retry("HTTP \(response.status) \(code)")
        case "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken", "ExpiredToken", "RequestTimeTooSkewed",
            "AuthorizationHeaderMalformed", "InvalidClientTokenId":
            return .authentication(code: code, message: error?.message ?? "")
        default:
            return .answer
        }
    }

    func authenticationError(code: String, message: String, what: String, key: String?) -> StorageError {
        let hint: String
        switch code {
        case "SignatureDoesNotMatch":
            hint = "the secret access key is wrong for access key id '\(config.credentials.accessKeyID)'\nHINT: check \(config.secretSource)"
        case "InvalidAccessKeyId":
            hint = "the access key id '\(config.credentials.accessKeyID)' is not known to the store\nHINT: check \(config.keyIDSource)"
        case "InvalidToken", "ExpiredToken":
            hint = "the session token is invalid or expired\nHINT: refresh AWS_SESSION_TOKEN"
        case "RequestTimeTooSkewed":
            hint = "this machine's clock differs too much from the store's\nHINT: synchronise the clock (NTP)"
        case "AuthorizationHeaderMalformed":
            hint = "the request was signed for the wrong region (\(config.region))\nHINT: check AWS_REGION"
        default:
            hint = "credentials refused (\(code))"
        }
        return StorageError(.authentication, key: key ?? "", message: "\(what): \(code): \(hint)")
    }

    /// Transport errors that no retry can fix (a certificate that does not verify, a bad URL).
    static func fatalTransportError(_ error: any Error) -> String? {
        if let ssl = error as? NIOSSLError {
            return "TLS failed: \(ssl)\nHINT: the server's certificate does not verify; set AWS_CA_BUNDLE to its CA's PEM file if it uses a private CA"
        }
        if error is NIOSSLExtraError { return "TLS failed: \(error)" }
        if error is NIOTooManyBytesError { return "the answer is larger than expected (\(error))" }
        if let http = error as? HTTPClientError {
            if [HTTPClientError.invalidURL, .emptyHost, .emptyScheme, .alreadyShutdown].contains(http) { return "\(http)" }
            return nil
        }
        return nil
    }

    static func describe(_ error: any Error) -> String {
        if let http = error as? HTTPClientError {
            if http == .readTimeout { return "no data within the read timeout" }
            if http == .remoteConnectionClosed { return "the connection was closed mid-response" }
            if http == .connectTimeout { return "connect timed out" }
            if http == .deadlineExceeded { return "the request deadline passed" }
            return "\(http)"
        }
        if let io = error as? IOError { return io.description }
        return "\(error)"
    }
}

/// Runs `body`, giving up at `deadline` with `onTimeout()`; the body's task is cancelled then.
func withTimeLimit<T: Sendable>(
    _ deadline: ContinuousClock.Instant, onTimeout: @escaping @Sendable () -> any Error,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try? await Task.sleep(until: deadline, clock: .continuous)
            return nil
        }
        defer { group.cancelAll() }
        while let next = try await group.next() {
            if let value = next { return value }
            throw onTimeout()
        }
        throw onTimeout()
    }
}

/// A value behind a lock, shareable between tasks and closures.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    var value: Value { mutex.withLock { $0 } }
}

func formatSeconds(_ s: Double) -> String { s == s.rounded() ? "\(Int(s)) s" : "\(s) s" }

extension Duration {
    var inNanoseconds: Int64 {
        let (s, a) = components
        return s * 1_000_000_000 + a / 1_000_000_000
    }
    var inSeconds: Double { Double(inNanoseconds) / 1e9 }
}

enum Digest {
    static func md5(_ bytes: [UInt8]) -> [UInt8] { Array(Insecure.MD5.hash(data: bytes)) }
    static func base64(_ bytes: [UInt8]) -> String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out = [UInt8]()
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)], table[Int(n >> 6 & 63)], table[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)], 61, 61]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)], table[Int(n >> 6 & 63)], 61]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
