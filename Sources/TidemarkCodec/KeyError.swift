/// Why the data key could not be wrapped or unwrapped. Classify by `code`; the message is for
/// people and never contains key material.
public struct KeyError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        package enum Value: String {
            case wrongPassphrase, invalidParameters, malformed
        }
        package let value: Value
        /// The passphrase does not open the wrapped key (or the wrapped key was altered: the
        /// two cannot be told apart).
        public static let wrongPassphrase = Code(value: .wrongPassphrase)
        /// The key-derivation parameters are outside what Tidemark accepts.
        public static let invalidParameters = Code(value: .invalidParameters)
        /// The wrapped key's fields, or the passphrase, cannot be used at all.
        public static let malformed = Code(value: .malformed)
        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    /// What is invalid or malformed (`scrypt logN=9 r=8 p=1`, `wrapped key fields`).
    public var detail: String?
    /// The error underneath, when there was one (the AES-GCM failure behind a wrong passphrase).
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, detail: String? = nil, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.detail = detail
        self.cause = cause
    }

    public var description: String { message }

    public static func wrongPassphrase(cause: (any Error)? = nil) -> KeyError {
        KeyError(.wrongPassphrase, "the encryption key does not open this repository (wrong key)", cause: cause)
    }

    public static func invalidParameters(_ what: String) -> KeyError {
        KeyError(.invalidParameters, "invalid key-derivation parameters: \(what)", detail: what)
    }

    public static func malformed(_ what: String, cause: (any Error)? = nil) -> KeyError {
        KeyError(.malformed, "malformed key material: \(what)", detail: what, cause: cause)
    }
}
