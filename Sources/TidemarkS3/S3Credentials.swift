/// A secret (an AWS secret access key, a session token) that never prints itself: its
/// description, debug description and mirror all read `<redacted>`.
public struct S3Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    package let value: String
    public init(_ value: String) { self.value = value }
    /// From bytes read from a file or the environment (as UTF-8; what SigV4 signs is text).
    public init(_ bytes: [UInt8]) { self.value = String(decoding: bytes, as: UTF8.self) }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
    public var isEmpty: Bool { value.isEmpty }
    /// The secret's UTF-8 bytes, for comparisons in tests and for writing nowhere.
    public var bytes: [UInt8] { Array(value.utf8) }
}

/// An access key pair, plus a session token for temporary credentials, and where the secret
/// came from. Never printed whole: the description names the key id and the source only.
public struct S3Credentials: Sendable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: S3Secret
    public var sessionToken: S3Secret?
    /// Where the secret came from, for messages (never the secret): `AWS_SECRET_ACCESS_KEY`,
    /// `file PATH`, `s3.secretAccessKey in CONFIG`.
    public var source: String
    /// The file the secret was read from (s3.secretAccessKeyFile or AWS_SECRET_ACCESS_KEY_FILE);
    /// nil when it came from a variable or the config file itself.
    public var secretFile: String?

    public init(accessKeyID: String, secretAccessKey: S3Secret, sessionToken: S3Secret? = nil,
                source: String = "AWS_SECRET_ACCESS_KEY", secretFile: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.source = source
        self.secretFile = secretFile
    }

    public var description: String { "S3Credentials(accessKeyID: \(accessKeyID), secret: <redacted>, from \(source))" }
}
