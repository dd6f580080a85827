#if canImport(Glibc)
import Glibc
#endif
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCore
import TidemarkCodec
import TidemarkStorage

/// Credentials for an S3 repository. Never printed.
public struct S3Credentials: Sendable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: Secret
    public var sessionToken: Secret?
    /// Where the secret came from, for messages (never the secret).
    public var source: String
    /// The file the secret was read from (s3.secretAccessKeyFile or AWS_SECRET_ACCESS_KEY_FILE);
    /// nil when it came from a variable or the config file itself.
    public var secretFile: String? = nil
    public var description: String { "S3Credentials(accessKeyID: \(accessKeyID), from \(source))" }
}

/// Everything the S3 store needs for one repository, resolved and validated from the config
/// file's `s3` section and the AWS_* variables. `StoreFactory` maps it onto the S3 store's
/// initialiser one field to one parameter.
public struct S3RepositorySettings: Sendable {
    public enum Addressing: String, Sendable { case path, virtual }

    public var bucket: String
    /// "" or ends with "/".
    public var prefix: String
    /// `https://host[:port]` (or `http://` on loopback), no trailing slash.
    public var endpoint: String
    public var region: String
    public var addressing: Addressing
    public var caBundle: String?
    public var credentials: S3Credentials
    public var partSizeMiB: Int
    public var concurrency: Int
    public var timeoutSeconds: Double

    public static let defaultRegion = "us-east-1"
    /// The S3 store's own default (`S3Configuration.defaultPartSize`, chosen by scripts/bench/s3.sh).
    public static let defaultPartSizeMiB = 8
    public static let defaultConcurrency = 4

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
    package static func resolve(name: String, section: S3Section?, environment env: [String: String], environmentWins: Bool,
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
        let endpoint = try endpointText.map { try validateEndpoint($0, repository: name) } ?? "https://s3.\(region).amazonaws.com"
        let addressing: Addressing
        switch s.addressing {
        case nil: addressing = endpointText == nil ? .virtual : .path
        case let text?:
            guard let parsed = Addressing(rawValue: text) else {
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
        return S3RepositorySettings(bucket: bucket, prefix: normalizedPrefix(s.prefix ?? ""), endpoint: endpoint, region: region,
                                    addressing: addressing, caBundle: s.caBundle, credentials: credentials, partSizeMiB: part,
                                    concurrency: concurrency, timeoutSeconds: timeout)
    }

    package static func resolveCredentials(name: String, section s: S3Section, environment env: [String: String], environmentWins: Bool,
                                   configFile: String?) throws -> S3Credentials {
        let envKeyID = env["AWS_ACCESS_KEY_ID"].flatMap { $0.isEmpty ? nil : $0 }
        let envSecretFile = env["AWS_SECRET_ACCESS_KEY_FILE"].flatMap { $0.isEmpty ? nil : ConfigurationLoader.absolute($0) }
        let envSecret = env["AWS_SECRET_ACCESS_KEY"].flatMap { $0.isEmpty ? nil : $0 } ?? (envSecretFile == nil ? nil : "")
        /// AWS_SECRET_ACCESS_KEY, else the file AWS_SECRET_ACCESS_KEY_FILE names.
        func environmentCredentials(_ keyID: String) throws -> S3Credentials {
            let token = env["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : Secret(Array($0.utf8)) }
            if let text = env["AWS_SECRET_ACCESS_KEY"], !text.isEmpty {
                return S3Credentials(accessKeyID: keyID, secretAccessKey: Secret(Array(text.utf8)), sessionToken: token,
                                     source: "AWS_SECRET_ACCESS_KEY")
            }
            let path = envSecretFile ?? ""
            let secret = try ConfigurationLoader.readKeyFile(path, source: "AWS_SECRET_ACCESS_KEY_FILE")
            return S3Credentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: token, source: "file \(path)",
                                 secretFile: path)
        }
        let fileKeyID = s.accessKeyId.flatMap { $0.isEmpty ? nil : $0 }
        let useEnvironment = environmentWins ? envKeyID != nil : fileKeyID == nil
        guard let keyID = useEnvironment ? envKeyID : fileKeyID else {
            throw TidemarkError(.configuration, "repository '\(name)' (s3) has no access key id: AWS_ACCESS_KEY_ID is not set",
                                hints: ["set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment of the user running Tidemark (for archive_command: the server's environment), or s3.accessKeyId and s3.secretAccessKeyFile in the config file"])
        }
        if useEnvironment {
            guard envSecret != nil else {
                throw TidemarkError(.configuration, "repository '\(name)' (s3): AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not",
                                    hints: ["set AWS_SECRET_ACCESS_KEY, or AWS_SECRET_ACCESS_KEY_FILE to a file (mode 0600) holding it (and AWS_SESSION_TOKEN for temporary credentials)"])
            }
            return try environmentCredentials(keyID)
        }
        if let path = s.secretAccessKeyFile, !path.isEmpty {
            let secret = try ConfigurationLoader.readKeyFile(path, source: "s3.secretAccessKeyFile of repository '\(name)'")
            return S3Credentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: nil, source: "file \(path)",
                                 secretFile: ConfigurationLoader.absolute(path))
        }
        if let inline = s.secretAccessKey, !inline.isEmpty {
            // A secret in the config file is acceptable only where the key file would be.
            var st = stat()
            guard let configFile, stat(configFile, &st) == 0, st.st_mode & 0o077 == 0 else {
                let mode = configFile.map { f -> String in
                    var st = stat()
                    return stat(f, &st) == 0 ? " (mode " + String(st.st_mode & 0o777, radix: 8) + ")" : ""
                } ?? ""
                throw TidemarkError(.configuration, "repository '\(name)': s3.secretAccessKey is in '\(configFile ?? "the config file")'\(mode), which other users can read; refusing to use it",
                                    hints: ["chmod 600 '\(configFile ?? "the config file")', or move the secret to a file of its own (mode 0600) named by s3.secretAccessKeyFile"])
            }
            return S3Credentials(accessKeyID: keyID, secretAccessKey: Secret(Array(inline.utf8)), sessionToken: nil,
                                 source: "s3.secretAccessKey in \(configFile)")
        }
        if envSecret != nil { return try environmentCredentials(keyID) }
        throw TidemarkError(.configuration, "repository '\(name)' (s3) has an access key id but no secret: AWS_SECRET_ACCESS_KEY is not set",
                            hints: ["set s3.secretAccessKeyFile (a file of mode 0600 holding the secret) or AWS_SECRET_ACCESS_KEY"])
    }

    /// Checks an endpoint URL: https anywhere, plain http only to a loopback host (the
    /// requests carry credentials' signatures and the repository's metadata).
    package static func validateEndpoint(_ text: String, repository name: String) throws -> String {
        let lower = text.lowercased()
        let secure: Bool
        let rest: Substring
        if lower.hasPrefix("https://") {
            secure = true
            rest = text.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            secure = false
            rest = text.dropFirst(7)
        } else {
            throw TidemarkError(.configuration, "repository '\(name)': endpoint '\(text)' is not an https:// URL",
                                hints: ["write it as https://host[:port] (AWS_ENDPOINT_URL or s3.endpoint)"])
        }
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        guard path.isEmpty || path == "/" else {
            throw TidemarkError(.configuration, "repository '\(name)': endpoint '\(text)' has a path",
                                hints: ["give only scheme, host and port; put the bucket in AWS_BACKUP_BUCKET or s3.bucket and a prefix after it"])
        }
        guard !authority.isEmpty, !authority.contains("@") else {
            throw TidemarkError(.configuration, "repository '\(name)': endpoint '\(text)' has no host (or carries a user name)",
                                hints: ["write it as https://host[:port]; credentials go in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"])
        }
        let host: Substring
        var portText: Substring = ""
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw TidemarkError(.configuration, "repository '\(name)': endpoint '\(text)' has an unterminated IPv6 address")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw TidemarkError(.configuration, "repository '\(name)': endpoint '\(text)' is not host[:port]")
            }
        } else {
            let parts = authority.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = parts[0]
            if parts.count == 2 { portText = parts[1] }
        }
        if !portText.isEmpty {
            guard let port = Int(portText), (1...65535).contains(port) else {
                throw TidemarkError(.configuration, "repository '\(name)': endpoint '\(text)' has port '\(portText)', which is not 1-65535")
            }
        }
        guard !host.isEmpty else {
            throw TidemarkError(.configuration, "repository '\(name)': endpoint '\(text)' has no host")
        }
        if !secure && !isLoopback(String(host)) {
            throw TidemarkError(.configuration, "repository '\(name)': endpoint '\(text)' uses plain http:// to '\(host)', which is not a loopback address; refusing to send requests and repository metadata unencrypted over the network",
                                hints: ["use https:// (s3.caBundle names the CA for a private certificate)",
                                        "plain http:// is allowed only to 127.0.0.0/8, ::1 or localhost (a proxy or test server on this host)"])
        }
        return String(text.hasSuffix("/") ? text.dropLast() : Substring(text))
    }

    /// 127.0.0.0/8, ::1 or localhost.
    package static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased()
        if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let octets = h.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return false }
        let values = octets.compactMap { o -> Int? in
            guard !o.isEmpty, o.count <= 3, o.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return Int(o)
        }
        return values.count == 4 && values.allSatisfy { $0 <= 255 } && values[0] == 127
    }
}
