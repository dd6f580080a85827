/// Why an envelope could not be written or read. Classify by `code`; the message is for
/// people and never contains key material.
public struct EnvelopeError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        package enum Value: String {
            case notAnEnvelope, unsupportedVersion, unsupportedAlgorithm, keyMismatch, authenticationFailed, truncated, corrupt
        }
        package let value: Value
        /// The bytes do not start with the envelope magic.
        public static let notAnEnvelope = Code(value: .notAnEnvelope)
        /// A newer Tidemark wrote the object (`version` says which format); nothing is damaged.
        public static let unsupportedVersion = Code(value: .unsupportedVersion)
        /// The header names a compression, cipher, kind or flag this Tidemark does not know.
        public static let unsupportedAlgorithm = Code(value: .unsupportedAlgorithm)
        /// The object was written under a different repository key (`expectedKeyID`, `foundKeyID`).
        public static let keyMismatch = Code(value: .keyMismatch)
        /// A chunk, the summary or the trailer failed AES-GCM authentication: damaged or tampered.
        public static let authenticationFailed = Code(value: .authenticationFailed)
        /// The object ends before its trailer.
        public static let truncated = Code(value: .truncated)
        /// Anything else structurally wrong (lengths, trailing bytes, checksum).
        public static let corrupt = Code(value: .corrupt)
        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    /// What failed or why: the part that failed authentication (`chunk 3`, `the summary`), the
    /// unknown algorithm (`compression id 9`), what is corrupt (`bytes after the trailer`).
    public var detail: String?
    /// For `.unsupportedVersion`: the format version the object declares.
    public var version: UInt8?
    /// For `.keyMismatch`: the id (hex) of the repository's key, and of the key in the object.
    public var expectedKeyID: String?
    public var foundKeyID: String?
    /// The error underneath, when there was one (the AES-GCM failure of an authentication).
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, detail: String? = nil, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.detail = detail
        self.cause = cause
    }

    public var description: String { message }

    public static let notAnEnvelope = EnvelopeError(.notAnEnvelope, "not a Tidemark object (bad magic)")

    public static let truncated = EnvelopeError(.truncated, "object is truncated (no authenticated trailer)")

    public static func unsupportedVersion(_ version: UInt8) -> EnvelopeError {
        var e = EnvelopeError(.unsupportedVersion, "object format version \(version) is newer than this Tidemark understands")
        e.version = version
        return e
    }

    public static func unsupportedAlgorithm(_ what: String) -> EnvelopeError {
        EnvelopeError(.unsupportedAlgorithm, "unsupported algorithm in object header: \(what)", detail: what)
    }

    public static func keyMismatch(expected: String, found: String) -> EnvelopeError {
        var e = EnvelopeError(.keyMismatch, "object was encrypted with key \(found), repository key is \(expected)")
        e.expectedKeyID = expected
        e.foundKeyID = found
        return e
    }

    public static func authenticationFailed(_ what: String, cause: (any Error)? = nil) -> EnvelopeError {
        EnvelopeError(.authenticationFailed, "authentication failed for \(what): the object is damaged or was tampered with",
                      detail: what, cause: cause)
    }

    public static func corrupt(_ why: String, cause: (any Error)? = nil) -> EnvelopeError {
        EnvelopeError(.corrupt, "object is corrupt: \(why)", detail: why, cause: cause)
    }
}
