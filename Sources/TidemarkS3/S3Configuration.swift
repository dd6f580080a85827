import TidemarkStorage
import TidemarkSystem

/// How the bucket is named in a request.
public enum S3AddressingStyle: String, Sendable {
    /// `https://endpoint/bucket/key`: custom endpoints, MinIO, moto, R2.
    case path
    /// `https://bucket.endpoint/key`: AWS.
    case virtual
}

/// When and how often a failed request is tried again. Only failures that cannot have changed
/// anything wrongly are retried: 5xx, 429/SlowDown, RequestTimeout, resets and timeouts.
public struct S3RetryPolicy: Sendable {
    /// Attempts in all (the first one included).
    public var maxAttempts: Int
    /// First backoff cap in seconds; doubles each attempt up to `maxBackoff` ("full jitter":
    /// the wait is uniform in 0...cap).
    public var baseBackoff: Double
    public var maxBackoff: Double
    public init(maxAttempts: Int = 8, baseBackoff: Double = 0.1, maxBackoff: Double = 5) {
        self.maxAttempts = maxAttempts
        self.baseBackoff = baseBackoff
        self.maxBackoff = maxBackoff
    }
}

/// Everything an `S3ObjectStore` needs. Settings are resolved in one place,
/// `S3RepositorySettings.resolve` (config file section + AWS_* variables), and become a
/// configuration with `S3Configuration(settings)`; `fromEnvironment` is that resolution for the
/// variables alone. The initialiser's defaults are the resolution's defaults.
public struct S3Configuration: Sendable, CustomStringConvertible {
    /// `https://host[:port]`; `http://` only for loopback hosts (test servers).
    public var endpoint: String
    /// Signing region; `auto` for Cloudflare R2.
    public var region: String
    public var bucket: String
    /// Key prefix inside the bucket, "" or ending in "/".
    public var prefix: String
    public var credentials: S3Credentials
    public var addressing: S3AddressingStyle
    /// A PEM bundle of CA certificates to trust instead of the system's. Certificates are
    /// always verified; this is the only TLS knob.
    public var caBundlePath: String?
    /// Objects larger than this go up as a multipart upload of parts this size (≥ 5 MiB).
    public var partSize: Int
    /// Parts uploaded at once by one writer.
    public var concurrency: Int
    /// Object Lock retention for every object written; nil: none asked for (a bucket's default
    /// retention still applies).
    public var objectLock: S3ObjectLock?
    /// A hard limit in seconds for one operation, retries included.
    public var operationDeadline: Double
    /// The longest a single request may wait for the next bytes before it counts as stalled.
    public var readTimeout: Double
    public var retry: S3RetryPolicy
    /// Which variable or setting the secret came from, for error hints.
    public var secretSource: String
    public var keyIDSource: String

    /// `S3RepositorySettings.defaultPartSizeMiB` (8 MiB) in bytes.
    public static let defaultPartSize = S3RepositorySettings.defaultPartSizeMiB << 20
    public static let defaultConcurrency = S3RepositorySettings.defaultConcurrency
    public static let minimumPartSize = 5 << 20

    public init(
        endpoint: String? = nil, region: String = S3RepositorySettings.defaultRegion, bucket: String, prefix: String = "",
        credentials: S3Credentials, addressing: S3AddressingStyle? = nil, caBundlePath: String? = nil,
        partSize: Int = S3Configuration.defaultPartSize, concurrency: Int = S3Configuration.defaultConcurrency,
        objectLock: S3ObjectLock? = nil, operationDeadline: Double = S3RepositorySettings.defaultTimeoutSeconds,
        readTimeout: Double = S3RepositorySettings.maximumReadTimeoutSeconds, retry: S3RetryPolicy = S3RetryPolicy(),
        secretSource: String = "AWS_SECRET_ACCESS_KEY", keyIDSource: String = "AWS_ACCESS_KEY_ID"
    ) throws(StorageError) {
        // The resolution's defaults: AWS's regional endpoint, virtual-hosted addressing for it
        // and path style for any endpoint given.
        let given = endpoint
        let endpoint = endpoint ?? S3RepositorySettings.defaultEndpoint(region: region)
        _ = try Endpoint.parse(endpoint, variable: "AWS_ENDPOINT_URL")
        self.endpoint = endpoint
        self.region = region
        self.bucket = bucket
        var p = prefix
        while p.hasPrefix("/") { p.removeFirst() }
        if !p.isEmpty && !p.hasSuffix("/") { p += "/" }
        self.prefix = p
        self.credentials = credentials
        self.addressing = addressing ?? (given == nil ? .virtual : .path)
        self.caBundlePath = caBundlePath
        self.partSize = partSize
        self.concurrency = max(1, concurrency)
        self.objectLock = objectLock
        self.operationDeadline = operationDeadline
        self.readTimeout = readTimeout
        self.retry = retry
        self.secretSource = secretSource
        self.keyIDSource = keyIDSource
        try validate()
    }

    func validate() throws(StorageError) {
        func bad(_ message: String) -> StorageError { StorageError(.invalidConfiguration, key: "s3://\(bucket)", message: message) }
        guard Self.isValidBucket(bucket) else {
            throw bad("unable to use S3 bucket '\(bucket)': not a valid bucket name\nHINT: set AWS_BACKUP_BUCKET to 'bucket' or 'bucket/prefix' (3–63 characters of a-z 0-9 . -)")
        }
        guard !region.isEmpty else { throw bad("unable to use S3: no region\nHINT: set AWS_REGION (e.g. us-east-1, or auto for R2)") }
        if region == "auto", (try? Endpoint.parse(endpoint, variable: "AWS_ENDPOINT_URL"))?.isAWS == true {
            throw bad("unable to use region 'auto' with AWS's endpoint\nHINT: set AWS_ENDPOINT_URL to the R2 endpoint (https://ACCOUNT.r2.cloudflarestorage.com) or AWS_REGION to a real region")
        }
        guard !credentials.accessKeyID.isEmpty else {
            throw bad("unable to use S3: no access key id\nHINT: set \(keyIDSource)")
        }
        guard !credentials.secretAccessKey.isEmpty else {
            throw bad("unable to use S3: no secret access key\nHINT: set \(secretSource)")
        }
        guard partSize >= Self.minimumPartSize, partSize <= 5 << 30 else {
            throw bad("unable to use S3 part size \(partSize): S3 needs 5 MiB to 5 GiB\nHINT: choose a part size of at least 5242880 bytes")
        }
        if let objectLock, !S3ObjectLock.allowedDays.contains(objectLock.days) {
            throw bad("unable to lock objects for \(objectLock.days) days\nHINT: set s3.objectLock.days to 1...36500")
        }
        guard operationDeadline > 0, readTimeout > 0 else { throw bad("unable to use S3: deadlines must be positive") }
        for component in prefix.split(separator: "/") where component == "." || component == ".." {
            throw bad("unable to use S3 prefix '\(prefix)': '.' and '..' are not allowed\nHINT: fix the part after the bucket in AWS_BACKUP_BUCKET")
        }
        if addressing == .virtual && bucket.contains(".") && endpoint.hasPrefix("https") {
            throw bad("unable to use virtual-hosted addressing for bucket '\(bucket)': its dots break TLS host names\nHINT: use path-style addressing")
        }
    }

    static func isValidBucket(_ name: String) -> Bool {
        guard (3...63).contains(name.utf8.count) else { return false }
        return name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 45 }
            && name.first != "-" && name.first != "." && name.last != "-" && name.last != "."
    }

    /// `s3://bucket/prefix`: no endpoint credentials, no secret.
    public var location: String { "s3://\(bucket)/\(prefix)" }

    public var description: String {
        "S3Configuration(endpoint: \(endpoint), region: \(region), bucket: \(bucket), prefix: \(prefix), "
            + "accessKeyID: \(credentials.accessKeyID), secret: <redacted>, addressing: \(addressing.rawValue), "
            + "partSize: \(partSize), concurrency: \(concurrency)"
            + (objectLock.map { ", objectLock: \($0.mode.rawValue) \($0.days) days" } ?? "") + ")"
    }
}

/// A parsed endpoint URL: scheme, host, port, and whether plain HTTP is allowed for it.
struct Endpoint: Sendable {
    var tls: Bool
    var host: String
    var port: Int?
    var isAWS: Bool { host == "amazonaws.com" || host.hasSuffix(".amazonaws.com") }

    static func parse(_ url: String, variable: String) throws(StorageError) -> Endpoint {
        func bad(_ why: String) -> StorageError {
            StorageError(.invalidConfiguration, key: url, message: "unable to use S3 endpoint '\(url)': \(why)\nHINT: set \(variable) to https://host[:port]")
        }
        let tls: Bool
        var rest: Substring
        if url.lowercased().hasPrefix("https://") {
            tls = true
            rest = url.dropFirst(8)
        } else if url.lowercased().hasPrefix("http://") {
            tls = false
            rest = url.dropFirst(7)
        } else {
            throw bad("the scheme must be https:// (or http:// for a loopback test server)")
        }
        if let slash = rest.firstIndex(of: "/") {
            guard rest[slash...].allSatisfy({ $0 == "/" }) else { throw bad("a path is not supported; put the prefix in AWS_BACKUP_BUCKET") }
            rest = rest[..<slash]
        }
        guard !rest.contains("@") else { throw bad("credentials do not belong in the URL") }
        var host = String(rest)
        var port: Int?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw bad("an unclosed IPv6 literal") }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw bad("not a valid port") }
                port = p
            }
            host = String(host[...close])
        } else if let colon = host.lastIndex(of: ":") {
            guard let p = Int(host[host.index(after: colon)...]), (1...65535).contains(p) else { throw bad("not a valid port") }
            port = p
            host = String(host[..<colon])
        }
        host = host.lowercased()
        guard !host.isEmpty else { throw bad("no host") }
        if !tls && !isLoopback(host) {
            throw bad("plain http:// is refused for a non-loopback host (credentials and data would cross the network unencrypted)")
        }
        return Endpoint(tls: tls, host: host, port: port)
    }

    /// 127.0.0.0/8, ::1 and localhost.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "[::1]" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else { return false }
        return parts[0] == "127"
    }

    /// `host[:port]` as the Host header carries it (the port only when not the scheme's default).
    var hostHeader: String {
        guard let port, port != (tls ? 443 : 80) else { return host }
        return "\(host):\(port)"
    }
}
