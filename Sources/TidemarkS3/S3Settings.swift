import TidemarkCore
import TidemarkStorage
import TidemarkSystem

/// Everything the S3 store needs for one repository, resolved and validated from the config
/// file's `s3` section and the AWS_* variables. This is the only S3 settings resolution:
/// `tidemark` (through its configuration loader), `S3Configuration.fromEnvironment`, the S3
/// benchmark and the tests all go through `resolve`, and `S3Configuration(settings)` maps the
/// result onto the store one field to one parameter.
///
/// The AWS_* variables that count: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SECRET_ACCESS_KEY_FILE`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL` (and
/// `AWS_BACKUP_BUCKET`, which names the bucket and the repository the variables win for).
/// No other one does (not `AWS_DEFAULT_REGION`, `AWS_CA_BUNDLE` or `AWS_S3_ADDRESSING_STYLE`:
/// the config file's `s3.caBundle` and `s3.addressing` set those).
public struct S3RepositorySettings: Sendable {
    public var bucket: String
    /// "" or ends with "/".
    public var prefix: String
    /// `https://host[:port]` (or `http://` on loopback), no trailing slash.
    public var endpoint: String
    public var region: String
    public var addressing: S3AddressingStyle
    public var caBundle: String?
    public var credentials: S3Credentials
    public var partSizeMiB: Int
    public var concurrency: Int
    /// The limit of one operation, retries included (the configuration's I/O timeout).
    public var timeoutSeconds: Double
    /// Object Lock retention for every object written (`s3.objectLock`), nil for none.
    public var objectLock: S3ObjectLock? = nil

    public static let defaultRegion = "us-east-1"
    /// 8 MiB parts, 4 at once: the fastest of part sizes 5–32 MiB × concurrency 1–8 in
    /// scripts/bench/s3.sh (docs/s3.md has the figures).
    public static let defaultPartSizeMiB = 8
    public static let defaultConcurrency = 4
    /// The configuration's default I/O timeout (`ioTimeoutSeconds`), for callers without one.
    public static let defaultTimeoutSeconds: Double = 60
    /// A request that receives nothing for this long (or for the whole timeout, if shorter)
    /// counts as stalled.
    public static let maximumReadTimeoutSeconds: Double = 30

    /// AWS's endpoint for `region`: `https://s3.REGION.amazonaws.com`.
    public static func defaultEndpoint(region: String) -> String { "https://s3.\(region).amazonaws.com" }

    /// `a/b` → `a/b/`, `/a/` → `a/`, "" → "".
    package static func normalizedPrefix(_ text: String) -> String {
        let trimmed = text.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
        return trimmed.isEmpty ? "" : trimmed + "/"
    }

    /// Splits AWS_BACKUP_BUCKET's `bucket[/prefix]`.
    package static func splitBucket(_ text: String) -> (bucket: String, prefix: String) {
        guard let slash = text.firstIndex(of: "/") else { return (text, "") }
        return (String(text[..<slash]), String(text[text.index(after: slash)...]))
    }

    /// Resolves one s3 repository. `environmentWins`: the AWS_* variables override the section
    /// (the repository AWS_BACKUP_BUCKET names); otherwise they only fill what it leaves out.
    /// `configFile` is the file the section came from (an inline secret needs it private);
    /// `timeout` bounds each operation. Throws configuration errors naming the field or
    /// variable to fix, never a secret.
    public static func resolve(name: String, section: S3Section?, environment env: [String: String], environmentWins: Bool,
                               configFile: String?, timeout: Double) throws -> S3RepositorySettings {
        let s = section ?? S3Section()
        func envValue(_ key: String) -> String? { env[key].flatMap { $0.isEmpty ? nil : $0 } }
        func pick(_ fileValue: String?, _ envKey: String) -> String? {
            let fileValue = fileValue.flatMap { $0.isEmpty ? nil : $0 }
            return environmentWins ? (envValue(envKey) ?? fileValue) : (fileValue ?? envValue(envKey))
        }
        guard let bucket = s.bucket.flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw TidemarkError(.configuration, "repository '\(name)' (s3) has no bucket",
                                hints: ["set AWS_BACKUP_BUCKET=bucket[/prefix], or s3.bucket in the config file"])
        }
        guard (3...63).contains(bucket.utf8.count),
              bucket.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }) else {
            throw TidemarkError(.configuration, "repository '\(name)': '\(bucket)' is not an S3 bucket name",
                                hints: ["a bucket name is 3-63 lower-case letters, digits, '-' or '.'; put a prefix after a '/' (AWS_BACKUP_BUCKET=bucket/prefix) or in s3.prefix"])
        }
        let region = pick(s.region, "AWS_REGION") ?? defaultRegion
        let endpointText = pick(s.endpoint, "AWS_ENDPOINT_URL")
        let endpoint = try endpointText.map { try validateEndpoint($0, repository: name) } ?? defaultEndpoint(region: region)
        let addressing: S3AddressingStyle
        switch s.addressing {
        case nil: addressing = endpointText == nil ? .virtual : .path
        case let text?:
            guard let parsed = S3AddressingStyle(rawValue: text) else {
                throw TidemarkError(.configuration, "repository '\(name)': s3.addressing '\(text)' is not path or virtual",
                                    hints: ["\"path\": https://endpoint/bucket/key (MinIO, most self-hosted stores); \"virtual\": https://bucket.endpoint/key (AWS)"])
            }
            addressing = parsed
        }
        if let ca = s.caBundle, !ca.hasPrefix("/") {
            throw TidemarkError(.configuration, "repository '\(name)': s3.caBundle '\(ca)' is not an absolute path")
        }
        let credentials = try resolveCredentials(name: name, section: s, environment: env, environmentWins: environmentWins,
                                                 configFile: configFile)
        let part = s.partSizeMiB ?? defaultPartSizeMiB
        guard (5...5120).contains(part) else {
            throw TidemarkError(.configuration, "repository '\(name)': s3.partSizeMiB \(part) is out of range",
                                hints: ["S3 multipart parts are 5 MiB to 5 GiB: use 5...5120"])
        }
        let concurrency = s.concurrency ?? defaultConcurrency
        guard (1...64).contains(concurrency) else {
            throw TidemarkError(.configuration, "repository '\(name)': s3.concurrency \(concurrency) is out of range", hints: ["use 1...64"])
        }
        let objectLock = try s.objectLock.map { try resolveObjectLock($0, repository: name) }
        return S3RepositorySettings(bucket: bucket, prefix: normalizedPrefix(s.prefix ?? ""), endpoint: endpoint, region: region,
                                    addressing: addressing, caBundle: s.caBundle, credentials: credentials, partSizeMiB: part,
                                    concurrency: concurrency, timeoutSeconds: timeout, objectLock: objectLock)
    }

    /// The settings of the repository the AWS_* variables alone describe: what `tidemark`
    /// resolves, with no config file, for the repository `offsite` that AWS_BACKUP_BUCKET adds.
    public static func fromEnvironment(_ env: [String: String], name: String = "offsite",
                                       timeout: Double = defaultTimeoutSeconds) throws -> S3RepositorySettings {
        let section = env["AWS_BACKUP_BUCKET"].flatMap { $0.isEmpty ? nil : $0 }.map { text -> S3Section in
            let (bucket, prefix) = splitBucket(text)
            return S3Section(bucket: bucket, prefix: prefix)
        }
        return try resolve(name: name, section: section, environment: env, environmentWins: true, configFile: nil, timeout: timeout)
    }
}

extension S3Configuration {
    /// The store's configuration for resolved settings, one field to one parameter. The
    /// operation deadline is the settings' timeout: a stalled or unreachable store becomes an
    /// error within it (after retries with backoff inside it).
    public init(_ settings: S3RepositorySettings, retry: S3RetryPolicy = S3RetryPolicy()) throws(StorageError) {
        try self.init(
            endpoint: settings.endpoint, region: settings.region, bucket: settings.bucket, prefix: settings.prefix,
            credentials: settings.credentials, addressing: settings.addressing, caBundlePath: settings.caBundle,
            partSize: settings.partSizeMiB << 20, concurrency: settings.concurrency, objectLock: settings.objectLock,
            operationDeadline: settings.timeoutSeconds,
            readTimeout: min(S3RepositorySettings.maximumReadTimeoutSeconds, settings.timeoutSeconds), retry: retry,
            secretSource: settings.credentials.source, keyIDSource: settings.credentials.source)
    }

    /// The configuration `tidemark` would use for the AWS_* variables alone
    /// (`S3RepositorySettings.fromEnvironment`). Resolution errors become
    /// `.invalidConfiguration` with their hints as `HINT:` lines; none carries a secret.
    public static func fromEnvironment(_ env: [String: String],
                                       timeout: Double = S3RepositorySettings.defaultTimeoutSeconds) throws(StorageError) -> S3Configuration {
        let settings: S3RepositorySettings
        do {
            settings = try S3RepositorySettings.fromEnvironment(env, timeout: timeout)
        } catch let error as TidemarkError {
            throw StorageError(.invalidConfiguration, key: "environment", message: error.description)
        } catch {
            throw StorageError(.invalidConfiguration, key: "environment", message: "unable to configure S3 from the environment")
        }
        return try S3Configuration(settings)
    }
}
