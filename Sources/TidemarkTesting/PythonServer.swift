import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Starting a Python test server (aiosmtpd, the HTTP receiver) the way `MotoServer` starts
/// moto: under a watchdog shell that kills it when the test process is gone.
enum PythonServer {
    static func python() -> String {
        let env = ProcessInfo.processInfo.environment
        var dirs = (env["PATH"] ?? "").split(separator: ":").map(String.init)
        if let home = env["HOME"] { dirs += [home + "/.pyenv/shims", home + "/.local/bin"] }
        dirs += ["/usr/local/bin", "/usr/bin"]
        for dir in dirs where access(dir + "/python3", X_OK) == 0 { return dir + "/python3" }
        return "/usr/bin/python3"
    }

    static func launch(_ arguments: [String], name: String) throws -> ChildProcess {
        var environment: [String: String] = [:]
        let parent = ProcessInfo.processInfo.environment
        for n in ["PATH", "HOME", "PYENV_ROOT", "PYENV_VERSION", "PYTHONPATH", "VIRTUAL_ENV"] {
            if let v = parent[n] { environment[n] = v }
        }
        environment["PYTHONUNBUFFERED"] = "1"
        let watchdog = """
            "$@" & child=$!
            trap 'kill -9 $child 2>/dev/null; exit 0' TERM INT HUP
            while kill -0 \(getpid()) 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done
            kill -9 $child 2>/dev/null
            """
        return try ChildProcess(launching: Command(
            "/bin/sh", ["-c", watchdog, "\(name)-watchdog", python()] + arguments, environment: environment,
            timeout: .seconds(24 * 3600)))
    }

    /// True once something accepts TCP connections on `port`; false when the process ended or
    /// `timeout` passed.
    static func waitUntilListening(port: UInt16, process: ChildProcess, timeout: Duration) async -> Bool {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if let fd = FaultProxy.connect(to: port) {
                Glibc.close(fd)
                return true
            }
            var status: Int32 = 0
            if waitpid(process.pid, &status, WNOHANG) == process.pid { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    static func startFailure(_ process: ChildProcess, what: String, port: UInt16, hint: String) -> TestingError {
        kill(-process.pid, SIGKILL)
        process.send(SIGKILL)
        let result = try? process.waitBlocking()
        return TestingError(.processFailed, "\(what) did not start on 127.0.0.1:\(port): \(result.map { $0.stderrText.suffix(2000) } ?? "")",
                            hints: [hint])
    }
}
