import Foundation
import Synchronization
import Testing
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL 15 server archiving through `tidemark wal-push` into a fresh, initialised
/// repository, and a `tidemark` runner (as the server user) whose libpq environment reaches it.
/// What every backup test starts from; the server is stopped when the value goes away.
final class BackupTestCluster: Sendable {
    let user: SystemUser?
    let scratch: ScratchDirectory
    let binary: TidemarkBinary
    let repository: RepositoryFixture
    let server: PostgresFixture
    /// `tidemark` with BACKUP_DIR, BACKUP_ENCRYPTION_KEY_FILE, PGHOST, PGPORT, PGUSER, PGDATABASE.
    let tidemark: TidemarkRunner

    /// `prefix` names the scratch directory (owned by the server user, so it can create
    /// restore targets and tablespace locations in it).
    /// `environment` reaches the server (so its archive_command) and every `tidemark` run, and
    /// `tidemark init` (e.g. AWS_* variables for an S3 repository beside the local one).
    init(prefix: String, configuration extra: [String] = [], timeout: Duration = .seconds(300),
         environment: [String: String] = [:]) async throws {
        let user = try SystemUser.serverUser()
        let scratch = try ScratchDirectory(prefix: prefix, mode: 0o755, owner: user)
        let binary = try TidemarkBinary.install()
        let (repository, runner) = try await initializedRepository(in: scratch, binary: binary, user: user, environment: environment)
        let server = try await PostgresFixture(
            PostgresFixture.Options(
                configuration: [
                    "archive_mode = on",
                    "archive_command = " + ShellQuoting.configString(ShellQuoting.quote(binary.path) + " wal-push %p"),
                    "wal_level = replica",
                    "max_wal_senders = 5",
                    "max_wal_size = '1GB'",
                    "checkpoint_timeout = '30min'",
                ] + extra,
                environment: repository.environment.merging(environment) { _, new in new }))
        self.user = user
        self.scratch = scratch
        self.binary = binary
        self.repository = repository
        self.server = server
        var tidemark = runner.with(environment: [
            "PGHOST": server.socketDirectory, "PGPORT": String(server.port),
            "PGUSER": "postgres", "PGDATABASE": "postgres",
        ])
        tidemark.timeout = timeout
        self.tidemark = tidemark
    }

    func stop() { server.stop() }

    /// A new directory `<scratch>/<name>` owned by the server user (mode 0700).
    func makeServerDirectory(_ name: String) throws -> String {
        let path = scratch.child(name)
        try FileManager.default.makeDirectory(path, mode: 0o700, owner: user)
        return path
    }

    /// `tidemark backup --type <type>`; requires exit 0 and returns the new `list --json` entry
    /// (and the command's result, for its notices).
    @discardableResult
    func backup(_ type: String, label: String? = nil, sourceLocation: SourceLocation = #_sourceLocation)
        async throws -> (BackupListJSON.Entry, ProcessResult)
    {
        let before = Set(try await list(sourceLocation: sourceLocation).backups.map(\.id))
        var arguments = ["backup", "--type", type]
        if let label { arguments += ["--label", label] }
        let result = try await ChildProcess.run(tidemark.command(arguments))
        try #require(result.exitCode == 0, "tidemark backup --type \(type) failed: \(result)\nserver log:\n\(server.serverLog())",
                     sourceLocation: sourceLocation)
        let after = try await list(sourceLocation: sourceLocation).backups
        // With several repositories the same backup is listed once per repository.
        var seen = Set<String>()
        let new = after.filter { !before.contains($0.id) && seen.insert($0.id).inserted }
        try #require(new.count == 1, "expected exactly one new backup in list --json, got \(new.map(\.id))", sourceLocation: sourceLocation)
        #expect(result.stdoutText.contains(new[0].id), "backup output names its id: \(result.stdoutText)", sourceLocation: sourceLocation)
        return (new[0], result)
    }

    /// `tidemark list --json`, decoded; a non-zero exit or a shape mismatch is a failure.
    func list(sourceLocation: SourceLocation = #_sourceLocation) async throws -> BackupListJSON {
        let result = try await tidemark.run("list", "--json")
        try #require(result.exitCode == 0, "tidemark list --json failed: \(result)", sourceLocation: sourceLocation)
        do {
            return try JSONDecoder().decode(BackupListJSON.self, from: result.stdout)
        } catch {
            Issue.record("list --json does not match docs/list-json.md: \(error)\n\(result.stdoutText)", sourceLocation: sourceLocation)
            throw error
        }
    }

    /// `tidemark restore --to <directory> --backup <id> --target-immediate --target-action promote`
    /// with the given tablespace relocations (and `--force`); requires exit 0.
    @discardableResult
    func restore(_ id: String, to directory: String, tablespaceMap: [String: String] = [:], force: Bool = false,
                 sourceLocation: SourceLocation = #_sourceLocation) async throws -> ProcessResult {
        var arguments = ["restore", "--to", directory, "--backup", id, "--target-immediate", "--target-action", "promote"]
        if force { arguments.append("--force") }
        for (old, new) in tablespaceMap.sorted(by: { $0.key < $1.key }) { arguments += ["--tablespace-map", "\(old)=\(new)"] }
        let result = try await ChildProcess.run(tidemark.command(arguments))
        try #require(result.exitCode == 0, "tidemark restore of \(id) failed: \(result)", sourceLocation: sourceLocation)
        return result
    }

    /// `pg_verifybackup -n <directory>` (WAL is not in the backup: it is in the archive). The
    /// restored server's own Tidemark configuration is not part of the backup.
    func verifyBackup(_ directory: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let result = try await ChildProcess.run(
            Command(server.binDirectory + "/pg_verifybackup", ["-n", "-i", "tidemark.restore.json", directory], user: user,
                    timeout: .seconds(300)))
        #expect(result.exitCode == 0, "pg_verifybackup -n \(directory) rejects the restored directory: \(result)",
                sourceLocation: sourceLocation)
    }

    /// Starts a restored data directory beside the original (its own port and socket,
    /// archive_mode off) and waits until recovery has ended with a promotion. Unless it
    /// archives, the server gets none of Tidemark's, libpq's or AWS's variables: its
    /// restore_command must work from what `tidemark restore` wrote, as on a new host.
    func startRestored(_ directory: String, name: String, archiving: Bool = false, keepArchiveSettings: Bool = false,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws -> RestoredServer
    {
        try await RestoredServer(
            dataDirectory: directory, socketDirectory: try makeServerDirectory(name + "-socket"),
            logFile: scratch.child(name + ".log"), binDirectory: server.binDirectory, user: user,
            environment: archiving ? server.environment : Self.withoutTidemarkVariables(server.environment),
            archiveCommand: archiving ? ShellQuoting.quote(binary.path) + " wal-push %p" : nil,
            keepArchiveSettings: keepArchiveSettings, sourceLocation: sourceLocation)
    }

    /// `environment` without BACKUP_*, TIDEMARK_*, AWS_* and PG* variables.
    static func withoutTidemarkVariables(_ environment: [String: String]) -> [String: String] {
        environment.filter { key, _ in !["BACKUP_", "TIDEMARK_", "AWS_", "PG"].contains { key.hasPrefix($0) } }
    }

    /// Bytes under `<repository>/main/backup/` (packs and catalogs of every backup, complete or not).
    func backupBytesInRepository() -> Int64 {
        let root = repository.directory + "/main/backup"
        guard let walker = FileManager.default.enumerator(atPath: root) else { return 0 }
        var total: Int64 = 0
        for case let path as String in walker {
            var st = stat()
            if lstat(root + "/" + path, &st) == 0, st.st_mode & S_IFMT == S_IFREG { total += Int64(st.st_size) }
        }
        return total
    }

    /// Names of the directories under `<repository>/main/backup/`.
    func backupDirectoriesInRepository() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: repository.directory + "/main/backup")) ?? []).sorted()
    }
}

/// `tidemark list --json`, decoded independently of the engine's types (docs/list-json.md).
struct BackupListJSON: Decodable {
    struct Entry: Decodable {
        var id: String
        var type: String
        var parent: String?
        var startTime: String
        var stopTime: String
        var startLSN: String
        var stopLSN: String
        var timeline: Int
        var size: Int64
        var storedSize: Int64
    }

    var backups: [Entry]
}

/// A restored data directory started as a server of its own; stopped when it goes away.
final class RestoredServer: Sendable {
    let dataDirectory: String
    let socketDirectory: String
    let logFile: String
    let binDirectory: String
    let port: UInt16
    let user: SystemUser?
    let environment: [String: String]
    private let running: Mutex<Bool>

    /// Appends port, socket directory and `archive_mode = off` to `postgresql.auto.conf` (they
    /// win over the original's `postgresql.conf`), runs `pg_ctl start`, then waits until
    /// `pg_is_in_recovery()` is false. Throws with the server log when recovery does not end.
    init(dataDirectory: String, socketDirectory: String, logFile: String, binDirectory: String, user: SystemUser?,
         environment: [String: String], timeout: Duration = .seconds(180), archiveCommand: String? = nil,
         keepArchiveSettings: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        self.dataDirectory = dataDirectory
        self.socketDirectory = socketDirectory
        self.logFile = logFile
        self.binDirectory = binDirectory
        self.user = user
        self.environment = environment
        let port = try FreePort.loopback()
        self.port = port
        self.running = Mutex(true)

        let overrides = """

            # tidemark tests: run beside the original
            port = \(port)
            listen_addresses = '127.0.0.1'
            unix_socket_directories = \(ShellQuoting.configString(socketDirectory))
            \(keepArchiveSettings ? "" : archiveCommand.map { "archive_mode = on\narchive_command = " + ShellQuoting.configString($0) } ?? "archive_mode = off")

            """
        let autoConf = dataDirectory + "/postgresql.auto.conf"
        guard let handle = FileHandle(forWritingAtPath: autoConf) else {
            throw TestingError(.fileSystem, "unable to open '\(autoConf)' for appending")
        }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(overrides.utf8))
        try handle.close()

        let start = try await ChildProcess.run(
            Command(binDirectory + "/pg_ctl", ["start", "-w", "-t", "120", "-D", dataDirectory, "-l", logFile],
                    environment: environment, user: user, timeout: .seconds(150)))
        guard start.succeeded else {
            throw TestingError(.processFailed, "pg_ctl start of the restored directory failed: \(start)\nlog:\n\(log())")
        }
        // pg_ctl -w can report success before recovery fails: judge by pg_is_in_recovery().
        let deadline = ContinuousClock.now + timeout
        while true {
            if let state = try? await psql("select pg_is_in_recovery()", timeout: .seconds(10)), state == "f" { break }
            let log = log()
            // A failed recovery ends the postmaster (connection FATALs while it starts up do not).
            if log.contains("PANIC") || !FileManager.default.fileExists(atPath: dataDirectory + "/postmaster.pid") {
                throw TestingError(.processFailed, "the restored server did not finish recovery:\n\(log)")
            }
            if ContinuousClock.now >= deadline {
                throw TestingError(.deadlineExceeded, "the restored server was still in recovery after \(timeout):\n\(log)")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    deinit { stop() }

    func stop() {
        let wasRunning = running.withLock { value in
            defer { value = false }
            return value
        }
        guard wasRunning else { return }
        for mode in ["fast", "immediate"] {
            guard FileManager.default.fileExists(atPath: dataDirectory + "/postmaster.pid") else { return }
            let result = try? ChildProcess.runBlocking(
                Command(binDirectory + "/pg_ctl", ["stop", "-w", "-t", "30", "-D", dataDirectory, "-m", mode],
                        environment: environment, user: user, timeout: .seconds(40)))
            if result?.succeeded == true { return }
        }
        if let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
           let line = text.split(separator: "\n").first, let pid = Int32(line.trimmingCharacters(in: .whitespaces)), pid > 1 {
            kill(pid, SIGKILL)
        }
    }

    func log(limit: Int = 8000) -> String {
        String(((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "").suffix(limit))
    }

    @discardableResult
    func psql(_ sql: String, timeout: Duration = .seconds(120)) async throws -> String {
        let result = try await ChildProcess.run(
            Command(binDirectory + "/psql",
                    ["-XAtq", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory, "-p", String(port), "-U", "postgres",
                     "-d", "postgres", "-c", sql],
                    environment: Command.baseEnvironment(for: nil), timeout: timeout))
        guard result.succeeded else { throw TestingError(.processFailed, "psql failed: \(sql)\n\(result.stderrText)") }
        var text = result.stdoutText
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }
}

/// A digest of every row of each table: `count:md5` of the sorted per-row md5s, so equal
/// digests mean equal multisets of rows (tables without a key, like pgbench_history, included).
func rowDigests(_ tables: [String], psql: (String) async throws -> String) async throws -> [String: String] {
    var digests: [String: String] = [:]
    for table in tables {
        digests[table] = try await psql(
            """
            select count(*) || ':' || coalesce(md5(string_agg(h, '' order by h)), '')
            from (select md5(t::text) as h from \(table) t) s
            """)
    }
    return digests
}

/// Every regular file and directory under `root` (not following symlinks) whose mode or owner
/// differs from what PostgreSQL requires of a data directory: dirs 0700, files 0600.
func permissionProblems(under root: String, owner: SystemUser?) -> [String] {
    var problems: [String] = []
    func visit(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            problems.append("\(path): lstat failed")
            return
        }
        let kind = st.st_mode & S_IFMT
        let mode = st.st_mode & 0o7777
        if let owner, SystemUser.isRoot, st.st_uid != owner.uid {
            problems.append("\(path): owned by uid \(st.st_uid), not \(owner)")
        }
        switch kind {
        case S_IFDIR:
            if mode != 0o700 { problems.append("\(path): directory mode \(String(mode, radix: 8))") }
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() {
                visit(path + "/" + name)
            }
        case S_IFREG:
            if mode != 0o600 { problems.append("\(path): file mode \(String(mode, radix: 8))") }
        case S_IFLNK:
            break
        default:
            problems.append("\(path): unexpected file type \(String(kind, radix: 8))")
        }
    }
    visit(root)
    return problems
}

/// `readlink(2)`, or nil.
func symlinkTarget(_ path: String) -> String? {
    try? FileManager.default.destinationOfSymbolicLink(atPath: path)
}
