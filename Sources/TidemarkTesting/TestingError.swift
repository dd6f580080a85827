import Foundation

/// The one error type of the test-support library.
///
/// A fixture that cannot do its job throws this; tests let it propagate so that a missing
/// PostgreSQL, a missing `tidemark` binary or a hung child process is a test *failure*, never a
/// silent skip.
public struct TestingError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, as a stable category a test may switch over.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case binaryNotFound, postgresNotFound, processFailed, processTimedOut, fileSystem,
                unexpectedOutput, userNotFound, deadlineExceeded
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The `tidemark` executable could not be located.
        public static let binaryNotFound = Code(.binaryNotFound)
        /// The PostgreSQL binaries could not be located.
        public static let postgresNotFound = Code(.postgresNotFound)
        /// A child process exited with an unexpected status.
        public static let processFailed = Code(.processFailed)
        /// A child process did not finish in time and was killed.
        public static let processTimedOut = Code(.processTimedOut)
        /// A file-system operation failed.
        public static let fileSystem = Code(.fileSystem)
        /// A child process produced output that could not be interpreted.
        public static let unexpectedOutput = Code(.unexpectedOutput)
        /// A system user (e.g. `postgres`) does not exist.
        public static let userNotFound = Code(.userNotFound)
        /// A polled condition did not become true before its deadline.
        public static let deadlineExceeded = Code(.deadlineExceeded)

        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    public var hints: [String]

    public init(_ code: Code, _ message: String, hints: [String] = []) {
        self.code = code
        self.message = message
        self.hints = hints
    }

    public var description: String {
        ([message] + hints.map { "HINT: \($0)" }).joined(separator: "\n")
    }
}
