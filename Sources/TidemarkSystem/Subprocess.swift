#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore

/// An operating-system account, looked up with `getpwnam_r` / `getpwuid_r`.
public struct OSUser: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    public var home: String

    public static func named(_ name: String) -> OSUser? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return OSUser(entry)
    }

    public static func withID(_ uid: UInt32) -> OSUser? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return OSUser(entry)
    }

    /// The user this process runs as.
    public static var current: OSUser {
        withID(geteuid()) ?? OSUser(name: String(geteuid()), uid: geteuid(), gid: getegid(), home: "/")
    }

    package init(name: String, uid: UInt32, gid: UInt32, home: String) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home
    }

    package init(_ p: passwd) {
        name = p.pw_name.map { String(cString: $0) } ?? ""
        uid = p.pw_uid
        gid = p.pw_gid
        home = p.pw_dir.map { String(cString: $0) } ?? "/"
    }

    public var description: String { name }
}

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

    package init(exitCode: Int32, signal: Int32? = nil, stdout: String, stderr: String, timedOut: Bool) {
        self.exitCode = exitCode
        self.signal = signal
        self.stdout = stdout
        self.stderr = stderr
        self.timedOut = timedOut
    }
}

/// Runs a program with `posix_spawn`: stdin from /dev/null, stdout and stderr into private
/// temporary files (never pipes: the postmaster that `pg_ctl start` leaves behind would inherit
/// a pipe and a reader would wait for EOF forever), descriptors above 2 closed, a process group
/// of its own (a terminal's ^C reaches Tidemark, which tears down in order), and — when this
/// process is root and `user` is someone else — under that user's ids via `setpriv`, which
/// execs, so the pid is the program's own.
package struct Subprocess: Sendable {
    package var executable: String
    package var arguments: [String]
    /// The child's complete environment.
    package var environment: [String: String]
    package var user: OSUser?
    package var timeout: Duration
    /// Where the temporary output files go.
    package var temporaryDirectory: String

    package func spawn(stdoutPath: String, stderrPath: String) throws -> pid_t {
        var argv = [executable] + arguments
        var program = executable
        if let user, geteuid() == 0, user.uid != 0 {
            program = "/usr/bin/setpriv"
            argv = ["setpriv", "--reuid=\(user.uid)", "--regid=\(user.gid)", "--init-groups", "--"] + argv
        }
        let env = environment.map { "\($0.key)=\($0.value)" }.sorted()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var pid: pid_t = 0
        let pointers: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        let envPointers: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer {
            pointers.forEach { free($0) }
            envPointers.forEach { free($0) }
        }
        let rc = posix_spawn(&pid, program, &actions, &attributes, pointers, envPointers)
        guard rc == 0 else {
            throw TidemarkError(.io, "unable to start '\(executable)': \(String(cString: strerror(rc)))")
        }
        return pid
    }

    /// Runs to completion (or the timeout, which kills the process group). Polls `waitpid`
    /// without blocking a cooperative thread; cancellation kills the child too.
    package func run() async throws -> SubprocessResult {
        try await execute { try await Task.sleep(for: $0) }
    }

    /// Like `run()` but blocks the calling thread: for teardown from a signal handler.
    package func runBlocking() throws -> SubprocessResult {
        try executeBlocking()
    }

    private func paths() -> (String, String) {
        let stem = temporaryDirectory + "/tidemark-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        return (stem + ".out", stem + ".err")
    }

    private func execute(sleep: (Duration) async throws -> Void) async throws -> SubprocessResult {
        let (out, err) = paths()
        defer {
            unlink(out)
            unlink(err)
        }
        let pid = try spawn(stdoutPath: out, stderrPath: err)
        let deadline = ContinuousClock.now + timeout
        var interval = Duration.milliseconds(1)
        while true {
            if let status = reap(pid) { return collect(status, out: out, err: err, timedOut: false) }
            if ContinuousClock.now >= deadline {
                return collect(kill(pid), out: out, err: err, timedOut: true)
            }
            do {
                try await sleep(interval)
            } catch {
                _ = kill(pid)
                throw error
            }
            interval = min(interval * 2, .milliseconds(50))
        }
    }

    private func executeBlocking() throws -> SubprocessResult {
        let (out, err) = paths()
        defer {
            unlink(out)
            unlink(err)
        }
        let pid = try spawn(stdoutPath: out, stderrPath: err)
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = reap(pid) { return collect(status, out: out, err: err, timedOut: false) }
            if ContinuousClock.now >= deadline { return collect(kill(pid), out: out, err: err, timedOut: true) }
            usleep(5_000)
        }
    }

    private func reap(_ pid: pid_t) -> (Int32, Int32?)? {
        var raw: Int32 = 0
        let r = waitpid(pid, &raw, WNOHANG)
        if r == 0 { return nil }
        if r < 0 { return (255, nil) }
        let sig = raw & 0x7f
        return sig == 0 ? ((raw >> 8) & 0xff, nil) : (128 + sig, sig)
    }

    private func kill(_ pid: pid_t) -> (Int32, Int32?) {
        Glibc.kill(-pid, SIGKILL)
        Glibc.kill(pid, SIGKILL)
        var raw: Int32 = 0
        _ = waitpid(pid, &raw, 0)
        return (128 + SIGKILL, SIGKILL)
    }

    private func collect(_ status: (Int32, Int32?), out: String, err: String, timedOut: Bool) -> SubprocessResult {
        SubprocessResult(exitCode: status.0, signal: status.1, stdout: readText(out), stderr: readText(err), timedOut: timedOut)
    }

    package init(executable: String, arguments: [String], environment: [String: String], user: OSUser? = nil, timeout: Duration, temporaryDirectory: String) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.user = user
        self.timeout = timeout
        self.temporaryDirectory = temporaryDirectory
    }
}

/// The whole file as UTF-8 text ("" when it cannot be read).
package func readText(_ path: String) -> String {
    guard let data = FileManager.default.contents(atPath: path) else { return "" }
    return String(decoding: data, as: UTF8.self)
}
