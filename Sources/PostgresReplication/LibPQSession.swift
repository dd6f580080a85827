import CLibPQ
import CLibPQLazy
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TidemarkSystem

/// The cancellation flag of one operation on a session (a query, a backup).
final class OperationToken: Sendable {
    private let flag = Atomic<Bool>(false)
    var isCancelled: Bool { flag.load(ordering: .acquiring) }
    func cancel() { flag.store(true, ordering: .releasing) }
}

/// Owns one `PGconn` in non-blocking mode and drives it from its lane: one `BlockingPool` thread
/// leased for the session's life, so that blocking calls (`poll`, `PQconnectPoll`'s DNS look-up,
/// `PQcancel`, waiting out backpressure) never park a thread of Swift's cooperative pool and
/// every call on the connection comes from the same thread.
///
/// Contract:
/// - Every call that touches the `PGconn` (and `PQfreemem`/`PQclear` of what it returned) happens
///   under `lock`, and none of them blocks: the connection is in non-blocking mode, and waiting
///   happens in `poll(2)` outside the lock, on the connection socket plus a wake-up pipe. So
///   `close()` from any thread takes effect at once, and `wake()` interrupts any wait.
/// - The exception is `PQcancel`, which opens its own connection: it runs outside the lock on a
///   `PGcancel` copy (libpq documents it as thread-safe), so it never holds up `close()`.
/// - Only the session's lane calls `connect`, `send`, `nextResult`, `nextCopyData`.
final class LibPQSession: @unchecked Sendable {
    private let lock = NSLock()
    private var connection: OpaquePointer?  // guarded by lock
    private var secrets: [String] = []  // guarded by lock
    private var targetDescription = "PostgreSQL"  // guarded by lock
    private var serverVersionNumber = 0  // guarded by lock
    private let closed = Atomic<Bool>(false)
    private let wakeRead: Int32
    private let wakeWrite: Int32
    let notices: NoticeSink
    let lane: Lane

    init(onNotice: (@Sendable (ServerMessage) -> Void)?) throws {
        guard tidemark_libpq_load() == 1 else {
            throw ReplicationError(.connectionFailed, "unable to load libpq.so.5: \(String(cString: tidemark_libpq_error()))",
                                   hints: ["install the PostgreSQL client library: apt-get install libpq5"])
        }
        var descriptors: [Int32] = [-1, -1]
        guard pipe(&descriptors) == 0 else {
            throw ReplicationError(.connectionFailed, "unable to create a wake-up pipe: \(String(cString: strerror(errno)))")
        }
        for descriptor in descriptors {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = descriptors[0]
        wakeWrite = descriptors[1]
        guard let lane = BlockingPool.shared.openLane(name: "tidemark-libpq") else {
            closeDescriptor(descriptors[0])
            closeDescriptor(descriptors[1])
            throw ReplicationError(
                .connectionFailed, "unable to start a thread for the PostgreSQL connection",
                hints: ["the process has \(BlockingPool.shared.maximumThreads) blocking-work threads busy or the system refused a new one; "
                    + "check for a hung file system and the process limits (ulimit -u)"])
        }
        notices = NoticeSink(handler: onNotice)
        self.lane = lane
    }

    deinit {
        close()
        closeDescriptor(wakeRead)
        closeDescriptor(wakeWrite)
    }

    var isClosed: Bool { closed.load(ordering: .acquiring) }
    /// `host=… port=… user=… dbname=…` of the connection (never a password).
    var target: String { lock.withLock { targetDescription } }
    /// `host H port P` or `socket …` of the connection (`endpoint(_:)`).
    var endpoint: String { lock.withLock { connection.map { Self.endpoint($0) } ?? "PostgreSQL" } }
    /// `PQserverVersion` as read right after connecting (e.g. 150018).
    var serverVersion: Int { lock.withLock { serverVersionNumber } }

    /// Runs `body` with the live `PGconn` under the lock; throws `closed` after `close()`.
    func withConnection<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        guard let connection else { throw ReplicationError.closedError }
        return try body(connection)
    }

    /// Finishes the connection (wraps `PQfinish`), wakes any wait and ends the lane once its
    /// queued jobs have run. Idempotent; callable from any thread; never blocks on the network.
    func close() {
        lock.withLock {
            if let connection { PQfinish(connection) }
            connection = nil
        }
        closed.store(true, ordering: .releasing)
        wake()
        lane.stop()
    }

    /// Interrupts the current or next `poll` of this session's lane. Callable from any thread.
    func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Asks the server to cancel the running command (wraps `PQgetCancel`, `PQcancel`,
    /// `PQfreeCancel`). Blocks on the network; best effort, errors are ignored.
    func sendCancelRequest() {
        guard let cancel = try? withConnection({ PQgetCancel($0) }) else { return }
        var errorBuffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancel, &errorBuffer, Int32(errorBuffer.count))
        PQfreeCancel(cancel)
    }

    // MARK: - Connecting

    /// Connects with `conninfo` expanded as the `dbname` parameter plus `replication=database`
    /// (wraps `PQconnectStartParams` with `expand_dbname = 1` and `PQconnectPoll`: the
    /// non-blocking form of `PQconnectdbParams`, so that `deadline` and cancellation hold).
    /// An empty `conninfo` leaves everything to libpq's `PG*` variables, service file, `.pgpass`
    /// and defaults; a string without `=` is a database name, as in every libpq program.
    func connect(conninfo: String, deadline: ContinuousClock.Instant, token: OperationToken) throws {
        let password = Self.password(in: conninfo)
        let keywords = ["dbname", "replication", "fallback_application_name"]
        let values = [conninfo, "database", "tidemark"]
        let started: OpaquePointer? = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in PQconnectStartParams(keywordPointers, valuePointers, 1) }
        }
        guard let started else { throw ReplicationError(.connectionFailed, "unable to allocate a libpq connection") }
        lock.withLock {
            connection = started
            secrets = password.map { [$0] } ?? []
            // Verbose errors carry the SQLSTATE in the text: the only place libpq exposes it for
            // a failed connection attempt.
            PQsetErrorVerbosity(started, PQERRORS_VERBOSE)
            notices.install(on: started)
        }
        var state = try withConnection { PQstatus($0) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING }
        while state != PGRES_POLLING_OK {
            switch state {
            case PGRES_POLLING_FAILED:
                throw connectFailure()
            case PGRES_POLLING_READING:
                try waitForConnecting(events: POLLIN, token: token, deadline: deadline)
            default:
                try waitForConnecting(events: POLLOUT, token: token, deadline: deadline)
            }
            state = try withConnection { PQconnectPoll($0) }
        }
        try withConnection { connection in
            PQsetErrorVerbosity(connection, PQERRORS_DEFAULT)
            if let used = PQpass(connection).map({ String(cString: $0) }), !used.isEmpty { secrets.append(used) }
            targetDescription = Self.describe(connection)
            serverVersionNumber = Int(PQserverVersion(connection))
            guard PQsetnonblocking(connection, 1) == 0 else {
                throw ReplicationError(.connectionFailed, "unable to put the connection to \(targetDescription) in non-blocking mode")
            }
        }
    }

    private func waitForConnecting(events: Int32, token: OperationToken, deadline: ContinuousClock.Instant) throws {
        do {
            try waitForSocket(events: events, token: token, deadline: deadline)
        } catch let error as ReplicationError where error.code == .timeout {
            let (target, endpoint) = try withConnection { (Self.describe($0), Self.endpoint($0)) }
            var error = ReplicationError(
                .timeout, "unable to connect to PostgreSQL (\(target)): no answer within the time limit",
                hints: ["check that the server runs and that host and port are right; raise the connection timeout"])
            error.endpoint = endpoint
            throw error
        }
    }

    /// The error for a failed attempt, classified by the SQLSTATE in libpq's verbose text.
    private func connectFailure() -> ReplicationError {
        lock.withLock {
            guard let connection else { return ReplicationError.closedError }
            let target = Self.describe(connection)
            let used = PQpass(connection).map { String(cString: $0) }  // may come from .pgpass or PGPASSWORD
            let text = SecretRedaction.redact(
                String(cString: PQerrorMessage(connection)), secrets: secrets + (used.map { [$0] } ?? []))
            let (sqlState, message, serverMessage) = Self.parseVerboseError(text)
            var (code, hints) = ReplicationError.classify(sqlState: sqlState, serverMessage: serverMessage, phase: .connecting)
            if sqlState == nil, PQconnectionNeedsPassword(connection) == 1 {
                code = .authenticationFailed
                hints = ["the server asks for a password: set PGPASSWORD, ~/.pgpass or password= in the connection string"]
            }
            var error = ReplicationError(code, "unable to connect to PostgreSQL (\(target)): \(message)", sqlState: sqlState, hints: hints)
            error.endpoint = Self.endpoint(connection)
            return error
        }
    }

    /// Splits libpq's verbose connection error (`…failed: FATAL:  42501: message\nLOCATION: …`)
    /// into the last SQLSTATE, the text without SQLSTATE and LOCATION lines, and the server's
    /// primary message.
    static func parseVerboseError(_ text: String) -> (sqlState: String?, message: String, serverMessage: String) {
        var sqlState: String?
        var serverMessage = ""
        var lines: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("LOCATION:") { continue }
            var kept = line.trimmingCharacters(in: .whitespaces)
            if let match = line.firstMatch(of: #/:  ([0-9A-Z]{5}): /#) {
                sqlState = String(match.output.1)
                serverMessage = String(line[match.range.upperBound...])
                kept = String(line[..<match.range.lowerBound]).trimmingCharacters(in: .whitespaces) + ":  " + serverMessage
            }
            lines.append(kept)
        }
        return (sqlState, lines.joined(separator: " "), serverMessage)
    }

    /// `host=… port=… user=… dbname=…` from the connection's effective parameters.
    static func describe(_ connection: OpaquePointer) -> String {
        func value(_ pointer: UnsafeMutablePointer<CChar>?) -> String { pointer.map { String(cString: $0) } ?? "" }
        return "host=\(value(PQhost(connection))) port=\(value(PQport(connection))) "
            + "user=\(value(PQuser(connection))) dbname=\(value(PQdb(connection)))"
    }

    /// `host H port P`, or `socket DIR/.s.PGSQL.P` when the host is a socket directory.
    static func endpoint(_ connection: OpaquePointer) -> String {
        let host = PQhost(connection).map { String(cString: $0) } ?? ""
        let port = PQport(connection).map { String(cString: $0) } ?? ""
        let shownPort = port.isEmpty ? "5432" : port
        if host.hasPrefix("/") || host.hasPrefix("@") { return "socket \(host)/.s.PGSQL.\(shownPort)" }
        return "host \(host.isEmpty ? "localhost" : host) port \(shownPort)"
    }

    /// The `password` of a conninfo string or URI, to redact it from messages (wraps
    /// `PQconninfoParse`). Nil when there is none or the string is a bare database name.
    static func password(in conninfo: String) -> String? {
        guard conninfo.contains("=") || conninfo.contains("://") else { return nil }
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorMessage) else {
            if let errorMessage { PQfreemem(errorMessage) }
            return nil
        }
        defer { PQconninfoFree(options) }
        var option = options
        while let keyword = option.pointee.keyword {
            if String(cString: keyword) == "password", let value = option.pointee.val {
                return String(cString: value)
            }
            option += 1
        }
        return nil
    }

    // MARK: - Commands (session lane only)

    /// Sends one simple-protocol command (wraps `PQsendQuery`, then `PQflush` until done).
    func send(_ command: String, token: OperationToken) throws {
        try withConnection { connection in
            guard command.withCString({ PQsendQuery(connection, $0) }) == 1 else {
                throw connectionError(connection, doing: "send a command")
            }
        }
        while true {
            let flushed = try withConnection { connection in
                let status = PQflush(connection)
                guard status >= 0 else { throw connectionError(connection, doing: "send a command") }
                return status == 0
            }
            if flushed { return }
            try waitForSocket(events: POLLIN | POLLOUT, token: token, deadline: nil)
            try consumeInput()
        }
    }

    /// The next result of the running command, or nil when it is complete (wraps
    /// `PQconsumeInput`, `PQisBusy`, `PQgetResult`, `PQclear`). Never call it in COPY state:
    /// libpq would return the COPY result forever.
    func nextResult(token: OperationToken) throws -> QueryResult? {
        while true {
            let ready: QueryResult?? = try withConnection { connection in
                guard PQconsumeInput(connection) == 1 else { throw connectionError(connection, doing: "read a result") }
                if PQisBusy(connection) == 1 { return .none }
                guard let result = PQgetResult(connection) else { return .some(nil) }
                defer { PQclear(result) }
                return .some(QueryResult(copying: result))
            }
            if let ready { return ready }
            try waitForSocket(events: POLLIN, token: token, deadline: nil)
        }
    }

    /// Hands the next COPY OUT message to `body` and returns true, or returns false when the COPY
    /// has ended (wraps `PQgetCopyData` in async mode; the buffer is released with `PQfreemem`
    /// after `body`, also when it throws). `body` runs outside the lock and may block.
    func nextCopyData(token: OperationToken, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Bool {
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let count = try withConnection { PQgetCopyData($0, &buffer, 1) }
            if count > 0, let buffer {
                defer { lock.withLock { PQfreemem(buffer) } }
                try body(UnsafeRawBufferPointer(start: buffer, count: Int(count)))
                return true
            }
            if let buffer { lock.withLock { PQfreemem(buffer) } }
            switch count {
            case -1: return false
            case 0: break
            default: throw try withConnection { connectionError($0, doing: "read COPY data") }
            }
            try waitForSocket(events: POLLIN, token: token, deadline: nil)
            try consumeInput()
        }
    }

    private func consumeInput() throws {
        try withConnection { connection in
            guard PQconsumeInput(connection) == 1 else { throw connectionError(connection, doing: "read from the server") }
        }
    }

    /// A broken-connection error with libpq's message (call under the lock).
    private func connectionError(_ connection: OpaquePointer, doing what: String) -> ReplicationError {
        let text = String(cString: PQerrorMessage(connection)).trimmingTrailingNewlines()
        return ReplicationError(
            .connectionFailed,
            "unable to \(what) on \(targetDescription): \(SecretRedaction.redact(text, secrets: secrets))")
    }

    /// Waits until the socket is ready for `events`, the token is cancelled (throws `cancelled`),
    /// the session is closed (throws `closed`) or `deadline` passes (throws `timeout`).
    func waitForSocket(events: Int32, token: OperationToken, deadline: ContinuousClock.Instant?) throws {
        while true {
            if token.isCancelled { throw ReplicationError.cancelledError }
            if isClosed { throw ReplicationError.closedError }
            var timeout: Int32 = 1000
            if let deadline {
                let remaining = deadline - ContinuousClock.now
                guard remaining > .zero else { throw ReplicationError(.timeout, "the operation timed out") }
                let milliseconds = remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1
                timeout = Int32(min(1000, milliseconds))
            }
            let socket = try withConnection { PQsocket($0) }
            guard socket >= 0 else { throw ReplicationError(.connectionFailed, "the connection has no socket") }
            var descriptors = [
                pollfd(fd: socket, events: Int16(events), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&descriptors, 2, timeout)
            if ready < 0 {
                if errno == EINTR { continue }
                throw ReplicationError(.connectionFailed, "unable to poll the connection: \(String(cString: strerror(errno)))")
            }
            if descriptors[1].revents != 0 {
                var sink = [UInt8](repeating: 0, count: 64)
                while read(wakeRead, &sink, sink.count) > 0 {}
                continue
            }
            if descriptors[0].revents != 0 { return }
        }
    }
}

private func closeDescriptor(_ descriptor: Int32) {
    #if canImport(Glibc)
    _ = Glibc.close(descriptor)
    #elseif canImport(Darwin)
    _ = Darwin.close(descriptor)
    #endif
}

/// Calls `body` with a NULL-terminated array of C strings.
private func withCStringArray<T>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
