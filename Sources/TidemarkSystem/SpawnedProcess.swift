#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore

/// How a child process ended.
package struct ExitStatus: Sendable, Hashable {
    /// The exit status, or `128 + signal` when a signal ended the process (as a shell reports it).
    package var exitCode: Int32
    /// The signal that ended the process, if one did.
    package var signal: Int32?

    package init(exitCode: Int32, signal: Int32? = nil) {
        self.exitCode = exitCode
        self.signal = signal
    }

    /// What a process killed for overrunning its time reports.
    package static let killed = ExitStatus(exitCode: 128 + SIGKILL, signal: SIGKILL)
    /// Someone else reaped the process (`ECHILD`): how it ended is unknown.
    package static let unknown = ExitStatus(exitCode: 255)

    /// Decodes a `waitpid` status.
    package init(waitStatus raw: Int32) {
        let signal = raw & 0x7f
        self = signal == 0 ? ExitStatus(exitCode: (raw >> 8) & 0xff) : ExitStatus(exitCode: 128 + signal, signal: signal)
    }
}

/// A started child process (`posix_spawn`, reaped with `waitpid`).
///
/// How the child is set up: stdin from /dev/null; stdout and stderr into private temporary
/// files (0600), never pipes — the postmaster that `pg_ctl start` leaves behind would inherit a
/// pipe and a reader would wait for EOF forever, and a chatty child cannot block on a full pipe;
/// every descriptor above 2 closed (a repository lock or a socket must not leak into a
/// long-lived server; without `posix_spawn_file_actions_addclosefrom_np` the launch fails rather
/// than leak); a process group of its own (a terminal's ^C reaches Tidemark, which tears down in
/// order; a kill reaches the whole group); default signal dispositions and an empty mask; and —
/// when this process is root and `user` is someone else — that user's ids via `setpriv`, which
/// execs, so `pid` is the program's own. Foundation's `Process` is not used: it detects exit
/// through a descriptor the child inherits, which a daemonised grandchild keeps open forever.
///
/// Not thread-safe: one owner waits for it. `deinit` kills and reaps a child still running and
/// removes the output files.
package final class SpawnedProcess {
    /// The pid of the program itself (`setpriv` execs, it does not fork).
    package let pid: pid_t
    package let started: ContinuousClock.Instant
    package let stdoutPath: String
    package let stderrPath: String
    /// How it ended, once reaped.
    package private(set) var status: ExitStatus?

    package init(spawning subprocess: Subprocess) throws {
        let stem = subprocess.temporaryDirectory
            + "/\(subprocess.outputPrefix)-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        stdoutPath = stem + ".out"
        stderrPath = stem + ".err"
        let name = subprocess.displayName ?? subprocess.executable
        func failure(_ reason: String) -> TidemarkError { TidemarkError(.io, "unable to start '\(name)': \(reason)") }

        var argv = [subprocess.executable] + subprocess.arguments
        var program = subprocess.executable
        if let user = subprocess.user, geteuid() == 0, user.uid != 0 {
            program = "/usr/bin/setpriv"
            argv = ["setpriv", "--reuid=\(user.uid)", "--regid=\(user.gid)", "--init-groups", "--"] + argv
        }
        let environment = subprocess.environment.map { "\($0.key)=\($0.value)" }.sorted()

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard GlibcSpawnExtensions.closeFrom(&actions, 3) == 0 else {
            throw failure("posix_spawn_file_actions_addclosefrom_np is unavailable (glibc 2.34 or later needed)")
        }
        if let directory = subprocess.currentDirectory {
            guard GlibcSpawnExtensions.changeDirectory(&actions, directory) == 0 else {
                throw failure("posix_spawn_file_actions_addchdir_np is unavailable (glibc 2.29 or later needed)")
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
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var child: pid_t = 0
        let spawned = withCStrings(argv) { cArguments in
            withCStrings(environment) { cEnvironment in
                posix_spawn(&child, program, &actions, &attributes, cArguments, cEnvironment)
            }
        }
        started = .now
        pid = child
        guard spawned == 0 else {
            status = .unknown  // nothing to reap; deinit removes the output files
            throw failure(String(cString: strerror(spawned)))
        }
    }

    deinit {
        if status == nil { _ = killGroupAndReap() }
        removeOutputFiles()
    }

    /// Sends `signal` to the process (e.g. `SIGKILL`). Harmless once it has been reaped.
    package func send(_ signal: Int32) {
        if status == nil { kill(pid, signal) }
    }

    /// `waitpid(WNOHANG)`: how it ended, or nil while it runs.
    @discardableResult
    package func poll() -> ExitStatus? {
        if let status { return status }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        if result == 0 { return nil }
        status = result < 0 ? .unknown : ExitStatus(waitStatus: raw)
        return status
    }

    /// Waits for the process to end, polling with intervals growing through `polling` so that
    /// no cooperative thread blocks. At `deadline` it kills the process group and returns nil;
    /// when the task is cancelled it kills the process group and throws `CancellationError`.
    package func wait(until deadline: ContinuousClock.Instant, polling: ClosedRange<Duration>) async throws -> ExitStatus? {
        var interval = polling.lowerBound
        while true {
            if let status = poll() { return status }
            if ContinuousClock.now >= deadline {
                _ = killGroupAndReap()
                return nil
            }
            do {
                try await Task.sleep(for: interval)
            } catch {
                _ = killGroupAndReap()
                throw error
            }
            interval = min(interval * 2, polling.upperBound)
        }
    }

    /// Like `wait(until:polling:)` but blocks the calling thread (for `deinit`, `defer` and signal
    /// handlers, which cannot await).
    package func waitBlocking(until deadline: ContinuousClock.Instant, interval: Duration) -> ExitStatus? {
        let micro = UInt32(clamping: interval.components.seconds * 1_000_000 + interval.components.attoseconds / 1_000_000_000_000)
        while true {
            if let status = poll() { return status }
            if ContinuousClock.now >= deadline {
                _ = killGroupAndReap()
                return nil
            }
            usleep(micro)
        }
    }

    /// Kills the process group and the process with `SIGKILL` and reaps it; returns how it
    /// ended (`killed` unless it had ended already).
    package func killGroupAndReap() -> ExitStatus {
        if let status { return status }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        var raw: Int32 = 0
        let reaped: ExitStatus = waitpid(pid, &raw, 0) == pid ? .killed : .unknown
        status = reaped
        return reaped
    }

    /// What the process wrote so far to stdout and stderr.
    package func output() -> (stdout: Data, stderr: Data) {
        let manager = FileManager.default
        return (manager.contents(atPath: stdoutPath) ?? Data(), manager.contents(atPath: stderrPath) ?? Data())
    }

    package func removeOutputFiles() {
        unlink(stdoutPath)
        unlink(stderrPath)
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
    package typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    package typealias ChangeDirectory =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    package static func closeFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ lowest: Int32) -> Int32 {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return ENOSYS }
        return unsafeBitCast(symbol, to: CloseFrom.self)(actions, lowest)
    }

    package static func changeDirectory(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: String) -> Int32 {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addchdir_np") else { return ENOSYS }
        return path.withCString { unsafeBitCast(symbol, to: ChangeDirectory.self)(actions, $0) }
    }
}
