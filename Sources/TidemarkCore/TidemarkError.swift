
/// The engine's error: a stable code (mapped to exit codes by the CLI), a one-line message
/// naming the thing, and hints that say what to do. Never contains key material.
public struct TidemarkError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        package enum Value: String {
            case configuration, wrongKey, repository, conflict, io, corrupt, invalidInput, notFound, alreadyExists, unreachable, busy,
                 verification
        }
        package let value: Value
        /// Missing or invalid configuration, no key.
        public static let configuration = Code(value: .configuration)
        /// The key does not open the repository.
        public static let wrongKey = Code(value: .wrongKey)
        /// Repository missing, not initialized, not writable, wrong stanza.
        public static let repository = Code(value: .repository)
        /// Same name, different content; or a second cluster in a stanza.
        public static let conflict = Code(value: .conflict)
        /// Disk full, timeout, read or write failure.
        public static let io = Code(value: .io)
        /// An object failed authentication or its checks.
        public static let corrupt = Code(value: .corrupt)
        /// The input is not what the command takes (e.g. not a WAL file).
        public static let invalidInput = Code(value: .invalidInput)
        /// The thing asked for is confirmed absent.
        public static let notFound = Code(value: .notFound)
        /// Something to be created exists already.
        public static let alreadyExists = Code(value: .alreadyExists)
        /// A recovery target the archive cannot reach (the message says why and what can).
        public static let unreachable = Code(value: .unreachable)
        /// Another command holds the stanza's lock (`RepositoryLock`); retry later.
        public static let busy = Code(value: .busy)
        /// `verify` (or a backup's own verification) found problems; the report names each.
        public static let verification = Code(value: .verification)
        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    public var hints: [String]
    /// For `.unreachable`: the planner's reason and the reachable alternatives.
    public var unreachable: Unreachable?
    /// The lower-level error this one translates (`TidemarkError.wrap`), for logs and for
    /// callers that classify it by its own code. Not part of `description`.
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, hints: [String] = [], cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.hints = hints
        self.cause = cause
    }

    public var description: String {
        ([message] + hints.map { "HINT: " + $0 }).joined(separator: "\n")
    }
}
