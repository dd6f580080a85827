import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
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

/// A started child process (`posix_spawn`, reaped with `waitpid`).
///
/// Output goes to private temporary files, never pipes: a daemon that inherits a descriptor
/// (the postmaster that `pg_ctl start` leaves behind) cannot make a reader wait for EOF, and a
/// chatty child cannot block on a full pipe. Descriptors above 2 are closed in the child.
/// Foundation's `Process` is not used because it detects exit through a socket the child
/// inherits, which a daemonised grandchild keeps open forever.
public final class ChildProcess {
    public let command: Command
    /// The pid of the command itself (`setpriv` execs, it does not fork).
    public let pid: pid_t
    private let stdoutPath: String
    private let stderrPath: String
    private let started: ContinuousClock.Instant
    private var status: (exitCode: Int32, signal: Int32?)?
    private var collected: ProcessResult?

    /// Starts `command` in its own process group; throws if it cannot be started.
    public init(launching command: Command) throws {
        self.command = command
        let stem = TestTemporaryRoot.path + "/tidemark-testing-\(UUID().uuidString)"
        stdoutPath = stem + ".stdout"
        stderrPath = stem + ".stderr"

        var argv = [command.executable] + command.arguments
        var executable = command.executable
        if let user = command.user, SystemUser.isRoot, user.uid != 0 {
            executable = "/usr/bin/setpriv"
            argv = ["setpriv", "--reuid=\(user.uid)", "--regid=\(user.gid)", "--init-groups", "--"] + argv
        }
        let environment = command.environment.map { "\($0.key)=\($0.value)" }.sorted()

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard GlibcSpawnExtensions.closeFrom(&actions, 3) == 0 else {
            throw TestingError(.processFailed, "posix_spawn_file_actions_addclosefrom_np is unavailable (glibc >= 2.34 needed)")
        }
        if let directory = command.currentDirectory {
            guard GlibcSpawnExtensions.changeDirectory(&actions, directory) == 0 else {
                throw TestingError(.processFailed, "posix_spawn_file_actions_addchdir_np is unavailable (glibc >= 2.29 needed)")
            }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaultSignals = sigset_t()
        sigfillset(&defaultSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var child: pid_t = 0
        let spawned = withCStrings(argv) { cArguments in
            withCStrings(environment) { cEnvironment in
                posix_spawn(&child, executable, &actions, &attributes, cArguments, cEnvironment)
            }
        }
        started = .now
        pid = child
        guard spawned == 0 else {
            status = (127, nil)
            throw TestingError(.processFailed, "unable to start '\(command)': \(String(cString: strerror(spawned)))")
        }
    }

    deinit {
        if status == nil {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
            var raw: Int32 = 0
            _ = waitpid(pid, &raw, 0)
        }
        removeOutputFiles()
    }

    /// Sends `signal` to the process (e.g. `SIGKILL`). Harmless once it has been reaped.
    public func send(_ signal: Int32) {
        if status == nil { kill(pid, signal) }
    }

    /// Waits for the process to end, polling without blocking a cooperative thread. When the
    /// command's timeout passes or the task is cancelled (e.g. by a test's time limit), the
    /// process group is killed and an error is thrown.
    public func wait() async throws -> ProcessResult {
        let deadline = started + command.timeout
        // Short polls: tests time pushes of ~50 ms and aim kills inside them.
        var interval = Duration.microseconds(250)
        while !reap() {
            if ContinuousClock.now >= deadline {
                killAndReap()
                throw timeoutError()
            }
            do {
                try await Task.sleep(for: interval)
            } catch {
                killAndReap()
                throw TestingError(.processTimedOut, "cancelled while waiting for: \(command)")
            }
            interval = min(interval * 2, .milliseconds(4))
        }
        return try collect()
    }

    /// Like `wait()` but blocks the calling thread; for `deinit` and `defer`, which cannot await.
    public func waitBlocking() throws -> ProcessResult {
        let deadline = started + command.timeout
        while !reap() {
            if ContinuousClock.now >= deadline {
                killAndReap()
                throw timeoutError()
            }
            usleep(1_000)
        }
        return try collect()
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

    /// `waitpid(WNOHANG)`: true once the process has ended (and its status is recorded).
    private func reap() -> Bool {
        if status != nil { return true }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        if result == 0 { return false }
        if result < 0 {
            // ECHILD: someone else reaped it; we cannot know how it ended.
            status = (255, nil)
            return true
        }
        let signal = raw & 0x7f
        status = signal == 0 ? ((raw >> 8) & 0xff, nil) : (128 + signal, signal)
        return true
    }

    private func killAndReap() {
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        var raw: Int32 = 0
        if status == nil, waitpid(pid, &raw, 0) == pid { status = (128 + SIGKILL, SIGKILL) }
    }

    private func timeoutError() -> TestingError {
        let stderr = (try? FileManager.default.readFile(stderrPath)).map { String(decoding: $0, as: UTF8.self) }
        return TestingError(
            .processTimedOut,
            "command did not finish within \(command.timeout) and was killed: \(command)\nstderr: \(stderr ?? "")")
    }

    private func collect() throws -> ProcessResult {
        if let collected { return collected }
        let (exitCode, signal) = status ?? (255, nil)
        let manager = FileManager.default
        let result = ProcessResult(
            command: command.description, exitCode: exitCode, signal: signal,
            stdout: (try? manager.readFile(stdoutPath)) ?? Data(),
            stderr: (try? manager.readFile(stderrPath)) ?? Data(),
            duration: ContinuousClock.now - started)
        collected = result
        removeOutputFiles()
        return result
    }

    private func removeOutputFiles() {
        try? FileManager.default.removeItem(atPath: stdoutPath)
        try? FileManager.default.removeItem(atPath: stderrPath)
    }
}

/// Calls `body` with a NULL-terminated C array of copies of `strings`.
private func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    return body(pointers)
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` and `_addchdir_np`, which the Glibc
/// module does not import (they sit behind feature macros); looked up with `dlsym`.
private enum GlibcSpawnExtensions {
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias ChangeDirectory =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    static func closeFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ lowest: Int32) -> Int32 {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return ENOSYS }
        return unsafeBitCast(symbol, to: CloseFrom.self)(actions, lowest)
    }

    static func changeDirectory(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: String) -> Int32 {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addchdir_np") else { return ENOSYS }
        return path.withCString { unsafeBitCast(symbol, to: ChangeDirectory.self)(actions, $0) }
    }
}
