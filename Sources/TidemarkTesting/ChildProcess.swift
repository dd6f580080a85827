import Foundation
import TidemarkCore
import TidemarkSystem

#if canImport(Glibc)
import Glibc
#endif

/// A command line to run: what, with which environment, as whom, and for how long at most.
public struct Command: Sendable, CustomStringConvertible {
    public var executable: String
    public var arguments: [String]
    /// The *complete* environment of the child; nothing is inherited from the test process, so a
    /// developer's own `BACKUP_DIR` cannot leak into a test.
    public var environment: [String: String]
    /// Run as this user (via `setpriv`, which execs, so the pid is the command's own) when the
    /// tests run as root; `nil` or a non-root test process runs the command as the current user.
    public var user: SystemUser?
    public var currentDirectory: String?
    public var timeout: Duration

    public init(
        _ executable: String, _ arguments: [String] = [], environment: [String: String] = [:],
        user: SystemUser? = nil, currentDirectory: String? = nil, timeout: Duration = .seconds(60)
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = Command.baseEnvironment(for: user).merging(environment) { $1 }
        self.user = user
        self.currentDirectory = currentDirectory
        self.timeout = timeout
    }

    /// PATH, a C locale, UTC and the user's HOME: enough for PostgreSQL tools and `tidemark`.
    public static func baseEnvironment(for user: SystemUser?) -> [String: String] {
        var environment = [
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LC_ALL": "C",
            "LANG": "C",
            "TZ": "UTC",
        ]
        if let user, SystemUser.isRoot {
            environment["HOME"] = user.home
            environment["USER"] = user.name
        } else if let home = ProcessInfo.processInfo.environment["HOME"] {
            environment["HOME"] = home
        }
        return environment
    }

    public var description: String {
        ([executable] + arguments).map(ShellQuoting.quoteIfNeeded).joined(separator: " ")
            + (user.map { " (as \($0.name))" } ?? "")
    }
}

/// How a child process ended and what it wrote.
public struct ProcessResult: Sendable, CustomStringConvertible {
    public var command: String
    /// The exit status, or `128 + signal` when a signal ended the process (as a shell reports it).
    public var exitCode: Int32
    /// The signal that ended the process, if one did.
    public var signal: Int32?
    public var stdout: Data
    public var stderr: Data
    public var duration: Duration

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    public var succeeded: Bool { exitCode == 0 && signal == nil }

    public var description: String {
        let how = signal.map { "killed by signal \($0)" } ?? "exit \(exitCode)"
        return "\(command): \(how) after \(duration)\nstdout: \(stdoutText.suffix(4000))\nstderr: \(stderrText.suffix(4000))"
    }

    /// Returns `self` when the command exited 0, otherwise throws `processFailed` with stderr.
    @discardableResult
    public func checked() throws -> ProcessResult {
        guard succeeded else { throw TestingError(.processFailed, "command failed: \(self)") }
        return self
    }
}

/// A started child process: TidemarkSystem's `SpawnedProcess` (the one implementation the
/// engine uses too: output in private files, descriptors above 2 closed, a process group of its
/// own, `setpriv` for another user) with the tests' errors and result type.
public final class ChildProcess {
    public let command: Command
    /// The pid of the command itself (`setpriv` execs, it does not fork).
    public var pid: pid_t { process.pid }
    private let process: SpawnedProcess
    private var collected: ProcessResult?

    /// Starts `command` in its own process group; throws if it cannot be started.
    public init(launching command: Command) throws {
        self.command = command
        let subprocess = Subprocess(
            executable: command.executable, arguments: command.arguments, environment: command.environment,
            user: command.user.map(\.osUser), currentDirectory: command.currentDirectory, timeout: command.timeout,
            temporaryDirectory: TestTemporaryRoot.path, outputPrefix: "tidemark-testing", displayName: command.description)
        do {
            process = try subprocess.launch()
        } catch let error as TidemarkError {
            throw TestingError(.processFailed, error.message)
        }
    }

    /// Sends `signal` to the process (e.g. `SIGKILL`). Harmless once it has been reaped.
    public func send(_ signal: Int32) {
        process.send(signal)
    }

    /// Waits for the process to end, polling without blocking a cooperative thread. When the
    /// command's timeout passes or the task is cancelled (e.g. by a test's time limit), the
    /// process group is killed and an error is thrown.
    public func wait() async throws -> ProcessResult {
        let ended: ExitStatus?
        do {
            // Short polls: tests time pushes of ~50 ms and aim kills inside them.
            ended = try await process.wait(until: process.started + command.timeout, polling: .microseconds(250)...(.milliseconds(4)))
        } catch {
            throw TestingError(.processTimedOut, "cancelled while waiting for: \(command)")
        }
        guard let ended else { throw timeoutError() }
        return collect(ended)
    }

    /// Like `wait()` but blocks the calling thread; for `deinit` and `defer`, which cannot await.
    public func waitBlocking() throws -> ProcessResult {
        guard let ended = process.waitBlocking(until: process.started + command.timeout, interval: .milliseconds(1)) else {
            throw timeoutError()
        }
        return collect(ended)
    }

    /// Runs `command` to completion.
    @discardableResult
    public static func run(_ command: Command) async throws -> ProcessResult {
        try await ChildProcess(launching: command).wait()
    }

    /// Runs `command` to completion, blocking the calling thread.
    @discardableResult
    public static func runBlocking(_ command: Command) throws -> ProcessResult {
        try ChildProcess(launching: command).waitBlocking()
    }

    private func timeoutError() -> TestingError {
        let stderr = String(decoding: process.output().stderr, as: UTF8.self)
        return TestingError(
            .processTimedOut,
            "command did not finish within \(command.timeout) and was killed: \(command)\nstderr: \(stderr)")
    }

    private func collect(_ ended: ExitStatus) -> ProcessResult {
        if let collected { return collected }
        let (stdout, stderr) = process.output()
        let result = ProcessResult(
            command: command.description, exitCode: ended.exitCode, signal: ended.signal,
            stdout: stdout, stderr: stderr, duration: ContinuousClock.now - process.started)
        collected = result
        process.removeOutputFiles()
        return result
    }
}
