import Foundation

/// Runs the installed `tidemark` binary the way PostgreSQL and operators do: configuration in
/// environment variables, a fixed user, a timeout, exit code and output captured.
public struct TidemarkRunner: Sendable {
    public let binary: TidemarkBinary
    /// Variables every invocation gets (`BACKUP_DIR`, `BACKUP_ENCRYPTION_KEY_FILE`, ...).
    public var environment: [String: String]
    /// Run as this user when the tests run as root (`nil`: as the current user, i.e. root).
    public var user: SystemUser?
    public var timeout: Duration

    public init(
        binary: TidemarkBinary, environment: [String: String], user: SystemUser?,
        timeout: Duration = .seconds(120)
    ) {
        self.binary = binary
        self.environment = environment
        self.user = user
        self.timeout = timeout
    }

    /// The command line for `tidemark <arguments>`, with `extra` variables on top of ours.
    public func command(
        _ arguments: [String], environment extra: [String: String] = [:], currentDirectory: String? = nil
    ) -> Command {
        Command(
            binary.path, arguments, environment: environment.merging(extra) { $1 }, user: user,
            currentDirectory: currentDirectory, timeout: timeout)
    }

    /// Runs `tidemark <arguments>` to completion; a non-zero exit is a result, not an error.
    public func run(
        _ arguments: String..., environment extra: [String: String] = [:], currentDirectory: String? = nil
    ) async throws -> ProcessResult {
        try await ChildProcess.run(command(arguments, environment: extra, currentDirectory: currentDirectory))
    }

    /// Starts `tidemark <arguments>` and returns at once, so a test can signal it.
    public func launch(_ arguments: String..., environment extra: [String: String] = [:]) throws -> ChildProcess {
        try ChildProcess(launching: command(arguments, environment: extra))
    }

    /// A runner identical to this one but with `changes` applied to its environment.
    public func with(environment changes: [String: String]) -> TidemarkRunner {
        var copy = self
        copy.environment.merge(changes) { $1 }
        return copy
    }
}
