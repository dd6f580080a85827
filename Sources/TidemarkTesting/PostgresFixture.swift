import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A real, throw-away PostgreSQL server: its own scratch directory under /tmp, its own free
/// loopback port, its Unix socket inside the scratch directory.
///
/// When the tests run as root, everything server-side (`initdb`, `pg_ctl`, the server and so
/// its `archive_command`) runs as `postgres`, with a fixed environment plus the variables the
/// caller passes (so `archive_command` sees `BACKUP_DIR` and friends). The server is stopped and
/// the scratch directory removed when the fixture goes away, even when a test fails.
public final class PostgresFixture: Sendable {
    /// What to start.
    public struct Options: Sendable {
        /// Extra postgresql.conf lines, written after the fixture's own, so they win.
        public var configuration: [String]
        /// Extra environment variables for the server process (and so `archive_command`).
        public var environment: [String: String]
        /// PostgreSQL's bin directory; default `$PG_BINDIR` or /usr/lib/postgresql/15/bin.
        public var binDirectory: String?
        /// Limit for each `initdb` / `pg_ctl` call.
        public var timeout: Duration

        public init(
            configuration: [String] = [], environment: [String: String] = [:],
            binDirectory: String? = nil, timeout: Duration = .seconds(120)
        ) {
            self.configuration = configuration
            self.environment = environment
            self.binDirectory = binDirectory
            self.timeout = timeout
        }
    }

    public let binDirectory: String
    public let dataDirectory: String
    public let socketDirectory: String
    public let logFile: String
    public let port: UInt16
    /// The user the server runs as (`nil`: the current, non-root user).
    public let user: SystemUser?
    /// The server process's complete environment.
    public let environment: [String: String]
    public let options: Options
    private let scratch: ScratchDirectory
    let running: Mutex<Bool>

    /// `<data>/pg_wal`.
    public var walDirectory: String { dataDirectory + "/pg_wal" }
    /// The scratch directory that holds the data directory, socket and log.
    public var scratchDirectory: String { scratch.path }

    /// Runs `initdb` and `pg_ctl start -w`; retries with a new port if the chosen one was taken.
    public init(_ options: Options = Options()) async throws {
        let binDirectory = try Self.resolveBinDirectory(options.binDirectory)
        let user = try SystemUser.serverUser()
        let scratch = try ScratchDirectory(prefix: "tidemark-pg", mode: 0o755, owner: user)
        let dataDirectory = scratch.child("data")
        let socketDirectory = scratch.child("socket")
        let logFile = scratch.child("server.log")
        try FileManager.default.makeDirectory(socketDirectory, mode: 0o700, owner: user)
        let environment = Command.baseEnvironment(for: user).merging(options.environment) { $1 }

        try await ChildProcess.run(
            Command(
                binDirectory + "/initdb",
                ["-D", dataDirectory, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "-k",
                 "--no-sync", "--no-instructions"],
                environment: environment, user: user, timeout: options.timeout)
        ).checked()
        try Self.append(
            to: dataDirectory + "/postgresql.conf",
            "include = 'tidemark-fixture.conf'\ninclude = 'tidemark-test.conf'\n")
        try FileManager.default.writeFile(
            dataDirectory + "/tidemark-test.conf",
            Data((options.configuration.joined(separator: "\n") + "\n").utf8), mode: 0o600, owner: user)

        var port: UInt16 = 0
        var attempt = 0
        while true {
            attempt += 1
            port = try FreePort.loopback()
            let fixtureConfiguration = [
                "port = \(port)",
                "listen_addresses = '127.0.0.1'",
                "unix_socket_directories = \(ShellQuoting.configString(socketDirectory))",
                "logging_collector = off",
                "log_line_prefix = '%m [%p] '",
            ].joined(separator: "\n") + "\n"
            try? FileManager.default.removeItem(atPath: dataDirectory + "/tidemark-fixture.conf")
            try FileManager.default.writeFile(
                dataDirectory + "/tidemark-fixture.conf", Data(fixtureConfiguration.utf8), mode: 0o600, owner: user)
            let start: ProcessResult
            do {
                start = try await ChildProcess.run(
                    Command(
                        binDirectory + "/pg_ctl",
                        ["start", "-w", "-t", "60", "-D", dataDirectory, "-l", logFile],
                        environment: environment, user: user, timeout: options.timeout))
            } catch {
                Self.stopBlocking(binDirectory: binDirectory, dataDirectory: dataDirectory, environment: environment, user: user)
                throw error
            }
            if start.succeeded { break }
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            Self.stopBlocking(binDirectory: binDirectory, dataDirectory: dataDirectory, environment: environment, user: user)
            if attempt < 3, log.contains("could not bind") || log.contains("Address already in use") { continue }
            throw TestingError(.processFailed, "unable to start PostgreSQL: \(start)\nserver log:\n\(log.suffix(4000))")
        }

        self.binDirectory = binDirectory
        self.dataDirectory = dataDirectory
        self.socketDirectory = socketDirectory
        self.logFile = logFile
        self.port = port
        self.user = user
        self.environment = environment
        self.options = options
        self.scratch = scratch
        self.running = Mutex(true)
        _ = try await psql("select 1")
    }

    deinit {
        stop()
    }

    /// Stops the server (`pg_ctl stop -m fast`, then `immediate`, then SIGKILL). Idempotent;
    /// blocks the calling thread (bounded by timeouts) so it can run from `defer` and `deinit`.
    public func stop() {
        let wasRunning = running.withLock { running in
            defer { running = false }
            return running
        }
        guard wasRunning else { return }
        Self.stopBlocking(binDirectory: binDirectory, dataDirectory: dataDirectory, environment: environment, user: user)
    }

    /// Runs SQL with `psql -XAtq` (unaligned, tuples only) and returns stdout without the final
    /// newline; throws with psql's stderr when the statement fails.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres", timeout: Duration = .seconds(120)) async throws -> String {
        let result = try await ChildProcess.run(
            Command(
                binDirectory + "/psql",
                ["-XAtq", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory, "-p", String(port), "-U", "postgres",
                 "-d", database, "-c", sql],
                environment: Command.baseEnvironment(for: nil), timeout: timeout))
        guard result.succeeded else {
            throw TestingError(.processFailed, "psql failed: \(sql)\n\(result.stderrText)")
        }
        var text = result.stdoutText
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// Runs `pgbench <arguments> postgres` against this server; throws if it fails.
    @discardableResult
    public func pgbench(_ arguments: [String], timeout: Duration = .seconds(600)) async throws -> ProcessResult {
        try await ChildProcess.run(
            Command(
                binDirectory + "/pgbench",
                ["-h", socketDirectory, "-p", String(port), "-U", "postgres"] + arguments + ["postgres"],
                environment: Command.baseEnvironment(for: nil), timeout: timeout)
        ).checked()
    }

    /// The server log so far (the last `limit` characters).
    public func serverLog(limit: Int = 8000) -> String {
        String(((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "").suffix(limit))
    }

    private static func resolveBinDirectory(_ explicit: String?) throws -> String {
        let directory = explicit ?? ProcessInfo.processInfo.environment["PG_BINDIR"] ?? "/usr/lib/postgresql/15/bin"
        for tool in ["initdb", "pg_ctl", "postgres", "psql", "pgbench"] {
            guard FileManager.default.isExecutableFile(atPath: directory + "/" + tool) else {
                throw TestingError(
                    .postgresNotFound, "unable to find PostgreSQL tool '\(directory)/\(tool)'",
                    hints: ["install postgresql-15 or set PG_BINDIR to PostgreSQL's bin directory"])
            }
        }
        return directory
    }

    private static func append(to path: String, _ text: String) throws {
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw TestingError(.fileSystem, "unable to open '\(path)' for appending")
        }
        defer { try? handle.close() }
        do {
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(text.utf8))
        } catch {
            throw TestingError(.fileSystem, "unable to append to '\(path)': \(error)")
        }
    }

    /// Best effort, never throws: fast shutdown, then immediate, then SIGKILL of the postmaster.
    private static func stopBlocking(
        binDirectory: String, dataDirectory: String, environment: [String: String], user: SystemUser?
    ) {
        let pidFile = dataDirectory + "/postmaster.pid"
        for mode in ["fast", "immediate"] {
            guard FileManager.default.fileExists(atPath: pidFile) else { return }
            let result = try? ChildProcess.runBlocking(
                Command(
                    binDirectory + "/pg_ctl", ["stop", "-w", "-t", "30", "-D", dataDirectory, "-m", mode],
                    environment: environment, user: user, timeout: .seconds(40)))
            if result?.succeeded == true { return }
        }
        if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let line = text.split(separator: "\n").first, let pid = Int32(line.trimmingCharacters(in: .whitespaces)),
            pid > 1
        {
            kill(pid, SIGKILL)
        }
    }
}
