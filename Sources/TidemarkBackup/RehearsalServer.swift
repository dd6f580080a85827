#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization
import TidemarkCore
import TidemarkSystem
import TidemarkRepository
import TidemarkCodec
import TidemarkStorage

/// The scratch cluster of one rehearsal: its directory, the server started in it, and the
/// teardown that always runs (from `defer`, or from SIGINT / SIGTERM): `pg_ctl stop -m
/// immediate`, then the directory is removed unless it is to be kept.
package final class ScratchCluster: Sendable {
    package let root: String
    package let dataDirectory: String
    package let socketDirectory: String
    package let logFile: String
    package let binDirectory: String
    package let user: OSUser
    package let environment: [String: String]
    package let keep: Bool
    package let port: UInt16
    package let databaseUser: String
    /// Removes what decrypted WAL the cluster's recovery left (the prefetch spool), at teardown.
    private let removeDecryptedWAL: @Sendable (_ dataDirectory: String) -> Void
    private let tornDown = Mutex(false)

    /// `socketDirectory`: inside `root` unless its socket path would pass the 107-byte limit
    /// of `sun_path`; then a private directory under /tmp, removed with the cluster.
    package init(root: String, socketDirectory: String, binDirectory: String, user: OSUser, environment: [String: String], keep: Bool,
         port: UInt16, databaseUser: String, removeDecryptedWAL: @escaping @Sendable (_ dataDirectory: String) -> Void) {
        self.removeDecryptedWAL = removeDecryptedWAL
        self.root = root
        dataDirectory = root + "/data"
        self.socketDirectory = socketDirectory
        logFile = root + "/postgresql.log"
        self.binDirectory = binDirectory
        self.user = user
        self.environment = environment
        self.keep = keep
        self.port = port
        self.databaseUser = databaseUser
    }

    package func tool(_ name: String, _ arguments: [String], timeout: Duration) -> Subprocess {
        Subprocess(executable: binDirectory + "/" + name, arguments: arguments, environment: environment, user: user,
                   timeout: timeout, temporaryDirectory: root)
    }

    /// `pg_ctl start` without waiting (`-W`): PostgreSQL's own wait can report success before
    /// recovery fails; the caller judges by the log and `pg_is_in_recovery()`.
    package func start() async throws -> SubprocessResult {
        try await tool("pg_ctl", ["start", "-W", "-s", "-D", dataDirectory, "-l", logFile], timeout: .seconds(60)).run()
    }

    /// `psql -XAtq -v ON_ERROR_STOP=1` over the scratch socket, SQL from `-c` or a file.
    package func psql(database: String, sql: String? = nil, file: String? = nil, timeout: Duration = .seconds(300)) async throws -> SubprocessResult {
        var arguments = ["-XAtq", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory, "-p", String(port), "-U", databaseUser, "-d", database]
        if let sql { arguments += ["-c", sql] }
        if let file { arguments += ["-f", file] }
        return try await tool("psql", arguments, timeout: timeout).run()
    }

    /// The postmaster's pid from `postmaster.pid`, if the file is there.
    package var postmasterPID: pid_t? {
        let text = readText(dataDirectory + "/postmaster.pid")
        guard let first = text.split(separator: "\n").first, let pid = Int32(first.trimmingCharacters(in: .whitespaces)), pid > 1 else { return nil }
        return pid
    }

    /// True while a postmaster process of this data directory exists.
    package var isRunning: Bool {
        guard let pid = postmasterPID else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    package var log: String { readText(logFile) }

    /// Stops the server (`immediate`: it is a scratch copy) and removes the directory unless
    /// `keep`. Idempotent; blocking, so that a signal handler can call it.
    package func tearDown() {
        let first = tornDown.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        if isRunning {
            _ = try? tool("pg_ctl", ["stop", "-s", "-w", "-t", "60", "-D", dataDirectory, "-m", "immediate"], timeout: .seconds(70)).runBlocking()
            if isRunning, let pid = postmasterPID { kill(pid, SIGKILL) }
        }
        if !socketDirectory.hasPrefix(root + "/") { try? FileManager.default.removeItem(atPath: socketDirectory) }
        // The prefetch spool holds decrypted WAL and is of no use for inspection: it goes even
        // with --keep; a prefetcher that still runs notices and ends (waited for, up to 3 s).
        removeDecryptedWAL(dataDirectory)
        if !keep { try? FileManager.default.removeItem(atPath: root) }
    }

    /// `<root>/sock`, or a new `/tmp/tidemark-sock-XXXXXX` when that would make the socket's
    /// path (`…/.s.PGSQL.65535`) too long for `sun_path`.
    package static func socketDirectory(root: String) throws -> String {
        let inside = root + "/sock"
        if (inside + "/.s.PGSQL.65535").utf8.count <= 107 {
            guard mkdir(inside, 0o700) == 0 else { throw TidemarkError(.io, "unable to create '\(inside)': \(String(cString: strerror(errno)))") }
            return inside
        }
        var template = Array("/tmp/tidemark-sock-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TidemarkError(.io, "unable to create a socket directory under /tmp: \(String(cString: strerror(errno)))") }
        return String(cString: made)
    }
}

/// SIGINT / SIGTERM during a rehearsal: tear the scratch cluster down, then exit 128 + signal.
package final class RehearsalSignals: @unchecked Sendable {
    // The sources are created and cancelled by the one task that runs the rehearsal.
    private var sources: [any DispatchSourceSignal] = []

    package init(cluster: ScratchCluster) {
        for s in [SIGINT, SIGTERM] {
            signal(s, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
            source.setEventHandler {
                cluster.tearDown()
                exit(128 + s)
            }
            source.resume()
            sources.append(source)
        }
    }

    package func cancel() {
        for s in sources { s.cancel() }
        sources = []
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

package enum RehearsalSystem {
    /// A loopback TCP port the kernel says is free now (bind to port 0, read it back).
    package static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TidemarkError(.io, "unable to find a free port: socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw TidemarkError(.io, "unable to find a free port: bind: \(String(cString: strerror(errno)))") }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw TidemarkError(.io, "unable to find a free port: getsockname: \(String(cString: strerror(errno)))") }
        return UInt16(bigEndian: address.sin_port)
    }

    /// `lchown` of `path` and everything below it (symlinks themselves, not their targets).
    package static func chownTree(_ path: String, to user: OSUser) throws {
        guard lchown(path, user.uid, user.gid) == 0 else {
            throw TidemarkError(.io, "unable to chown '\(path)' to \(user.name): \(String(cString: strerror(errno)))")
        }
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
            try chownTree(path + "/" + name, to: user)
        }
    }

    /// The owner of `path`, if it exists.
    package static func owner(of path: String) -> OSUser? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return OSUser.withID(st.st_uid)
    }

    /// `postgres (PostgreSQL) 15.4 (Debian 15.4-1)` → 15 (`9.6.24` → 9).
    package static func majorVersion(fromVersionOutput text: String) -> Int? {
        guard let r = text.range(of: "PostgreSQL) ") else { return nil }
        let digits = text[r.upperBound...].prefix { $0.isNumber }
        return Int(digits)
    }

    /// The catalog's server version (`150004`, or a bare major) → its major version.
    package static func major(ofServerVersion v: Int) -> Int {
        v >= 100_000 ? v / 10_000 : v >= 10_000 ? v / 100 : v
    }

    /// A directory holding pg_ctl, postgres and psql of PostgreSQL `major`: `explicit` only when
    /// given, else `pg_config --bindir`, then the Debian and RPM layouts. Throws a
    /// configuration error naming what was found.
    package static func binaries(explicit: String?, major: Int, environment: [String: String], scratch: String) async throws -> String {
        var candidates: [String] = []
        if let explicit {
            candidates = [explicit]
        } else {
            for dir in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
            where FileManager.default.isExecutableFile(atPath: dir + "/pg_config") {
                let r = try await Subprocess(executable: dir + "/pg_config", arguments: ["--bindir"], environment: environment, user: nil,
                                             timeout: .seconds(20), temporaryDirectory: scratch).run()
                if r.succeeded { candidates.append(r.output) }
                break
            }
            candidates += ["/usr/lib/postgresql/\(major)/bin", "/usr/pgsql-\(major)/bin"]
        }
        var found: [String] = []
        for dir in candidates {
            guard ["pg_ctl", "postgres", "psql"].allSatisfy({ FileManager.default.isExecutableFile(atPath: dir + "/" + $0) }) else { continue }
            let r = try await Subprocess(executable: dir + "/postgres", arguments: ["--version"], environment: environment, user: nil,
                                         timeout: .seconds(20), temporaryDirectory: scratch).run()
            let v = majorVersion(fromVersionOutput: r.stdout)
            if v == major { return dir }
            found.append("\(dir) (PostgreSQL \(v.map(String.init) ?? "?"))")
        }
        throw TidemarkError(.configuration, "no PostgreSQL \(major) server binaries found" + (found.isEmpty ? "" : "; found " + found.joined(separator: ", ")),
                            hints: ["install PostgreSQL \(major) or pass --pg-bin DIR (the directory holding pg_ctl, postgres and psql)"])
    }
}
