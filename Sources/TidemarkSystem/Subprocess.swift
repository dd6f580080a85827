#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore

/// What a finished child process said.
package struct SubprocessResult: Sendable {
    package var exitCode: Int32
    package var signal: Int32?
    package var stdout: String
    package var stderr: String
    package var timedOut: Bool
    package var succeeded: Bool { exitCode == 0 && signal == nil && !timedOut }

    /// stdout without trailing newlines.
    package var output: String {
        var s = stdout
        while s.hasSuffix("\n") { s.removeLast() }
        return s
    }
}

/// A program to run: what, with which environment, as whom, where, and for how long at most.
/// The one way Tidemark and its tests start processes (`launch` gives a `SpawnedProcess`; see
/// it for how the child is set up).
package struct Subprocess: Sendable {
    package var executable: String
    package var arguments: [String]
    /// The child's complete environment: nothing is inherited.
    package var environment: [String: String]
    /// Run as this user (via `setpriv`) when this process is root and the user is someone else.
    package var user: OSUser?
    /// The child's working directory (nil: this process's).
    package var currentDirectory: String?
    package var timeout: Duration
    /// Where the temporary output files go.
    package var temporaryDirectory: String
    /// The start of the output files' names (`PREFIX-PID-RANDOM.out` / `.err`).
    package var outputPrefix: String
    /// How errors name the program (default: `executable`).
    package var displayName: String?

    package init(executable: String, arguments: [String], environment: [String: String], user: OSUser? = nil,
                 currentDirectory: String? = nil, timeout: Duration, temporaryDirectory: String,
                 outputPrefix: String = "tidemark", displayName: String? = nil) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.user = user
        self.currentDirectory = currentDirectory
        self.timeout = timeout
        self.temporaryDirectory = temporaryDirectory
        self.outputPrefix = outputPrefix
        self.displayName = displayName
    }

    /// Starts the program and returns at once; throws `TidemarkError.io` when it cannot start.
    package func launch() throws -> SpawnedProcess {
        try SpawnedProcess(spawning: self)
    }

    /// Runs to completion, or to the timeout (which kills the process group and returns a
    /// result with `timedOut`). Polls `waitpid` without blocking a cooperative thread;
    /// cancellation kills the child too and rethrows.
    package func run() async throws -> SubprocessResult {
        let process = try launch()
        let status = try await process.wait(until: process.started + timeout, polling: .milliseconds(1)...(.milliseconds(50)))
        return result(of: process, status)
    }

    /// Like `run()` but blocks the calling thread: for teardown from a signal handler.
    package func runBlocking() throws -> SubprocessResult {
        let process = try launch()
        return result(of: process, process.waitBlocking(until: process.started + timeout, interval: .milliseconds(5)))
    }

    private func result(of process: SpawnedProcess, _ status: ExitStatus?) -> SubprocessResult {
        let (stdout, stderr) = process.output()
        let final = status ?? .killed
        return SubprocessResult(exitCode: final.exitCode, signal: final.signal, stdout: String(decoding: stdout, as: UTF8.self),
                                stderr: String(decoding: stderr, as: UTF8.self), timedOut: status == nil)
    }
}

/// The whole file as UTF-8 text ("" when it cannot be read).
package func readText(_ path: String) -> String {
    guard let data = FileManager.default.contents(atPath: path) else { return "" }
    return String(decoding: data, as: UTF8.self)
}
