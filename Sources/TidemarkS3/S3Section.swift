/// The `s3` section of a repository in the config file, as written: the file-side input of
/// `S3RepositorySettings.resolve` (the AWS_* variables are the other). It lives here, beside
/// the one resolution that reads it, so that every field the file can set is resolved in this
/// module. Never printed whole: it may hold `secretAccessKey`.
public struct S3Section: Codable, Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var bucket: String?
    public var prefix: String?
    /// `https://host[:port]`; `http://` only for loopback. Default: AWS for `region`.
    public var endpoint: String?
    public var region: String?
    /// `path` or `virtual`.
    public var addressing: String?
    /// PEM file of the certificate authorities to trust (default: the system's).
    public var caBundle: String?
    public var accessKeyId: String?
    /// File holding the secret access key (mode 0600).
    public var secretAccessKeyFile: String?
    /// The secret itself: accepted only when the config file is readable by its owner alone.
    public var secretAccessKey: String?
    public var partSizeMiB: Int?
    public var concurrency: Int?
    /// `{"mode": "GOVERNANCE"|"COMPLIANCE", "days": N}`: every object is written with an Object
    /// Lock retention of N days (docs/ransomware.md). Validated by the resolution.
    public var objectLock: ObjectLockSection?

    /// The `objectLock` object as written.
    public struct ObjectLockSection: Codable, Sendable, Hashable {
        public var mode: String?
        public var days: Int?

        /// The field names the config file may use inside `objectLock`.
        package enum CodingKeys: String, CodingKey, CaseIterable {
            case mode, days
        }

        public init(mode: String? = nil, days: Int? = nil) {
            self.mode = mode
            self.days = days
        }
    }

    /// The field names the config file may use (the loader refuses any other).
    package enum CodingKeys: String, CodingKey, CaseIterable {
        case bucket, prefix, endpoint, region, addressing, caBundle, accessKeyId, secretAccessKeyFile, secretAccessKey,
             partSizeMiB, concurrency, objectLock
    }

    public init(bucket: String? = nil, prefix: String? = nil, endpoint: String? = nil, region: String? = nil) {
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint = endpoint
        self.region = region
    }

    public var description: String {
        "S3Section(bucket: \(bucket ?? "nil"), prefix: \(prefix ?? "nil"), endpoint: \(endpoint ?? "nil"), secretAccessKey: \(secretAccessKey == nil ? "nil" : "<redacted>"))"
    }
    public var debugDescription: String { description }
    /// `dump` shows what `description` shows, never the inline secret.
    public var customMirror: Mirror { Mirror(self, children: ["description": description], displayStyle: .struct) }
}
