#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore

/// An error from an object store. Classify by `code`; the message is for people.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        package enum Value: String {
            case permissionDenied, noSpace, timeout, io, invalidKey, notADirectory, readOnly, authentication, invalidConfiguration,
                integrity
        }
        package let value: Value
        public static let permissionDenied = Code(value: .permissionDenied)
        public static let noSpace = Code(value: .noSpace)
        /// The store did not answer in time; the operation may still complete later.
        public static let timeout = Code(value: .timeout)
        public static let io = Code(value: .io)
        public static let invalidKey = Code(value: .invalidKey)
        public static let notADirectory = Code(value: .notADirectory)
        public static let readOnly = Code(value: .readOnly)
        /// The store refused the credentials (a wrong key id or secret, a skewed clock).
        public static let authentication = Code(value: .authentication)
        /// The store's settings are unusable (a bad endpoint, bucket name or part size).
        public static let invalidConfiguration = Code(value: .invalidConfiguration)
        /// What the store holds after a write is not what was written (size or checksum differs).
        public static let integrity = Code(value: .integrity)
        public var description: String { value.rawValue }
    }

    public var code: Code
    /// The object key or path involved.
    public var key: String
    public var message: String
    public var errno: Int32?

    public init(_ code: Code, key: String, message: String, errno: Int32? = nil) {
        self.code = code
        self.key = key
        self.message = message
        self.errno = errno
    }

    /// Classifies an errno from a file-system call.
    public init(errno e: Int32, operation: String, path: String) {
        let code: Code
        switch e {
        case EACCES, EPERM: code = .permissionDenied
        case ENOSPC, EDQUOT: code = .noSpace
        case EROFS: code = .readOnly
        case ENOTDIR: code = .notADirectory
        default: code = .io
        }
        self.init(code, key: path, message: "unable to \(operation) '\(path)': \(String(cString: strerror(e)))", errno: e)
    }

    public var description: String { message }
}
