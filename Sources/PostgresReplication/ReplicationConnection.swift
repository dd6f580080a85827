import Synchronization
import TidemarkCore
import TidemarkSystem

/// What `IDENTIFY_SYSTEM` reports.
public struct SystemIdentity: Sendable, Equatable {
    /// `pg_control_system().system_identifier`.
    public var systemIdentifier: UInt64
    /// The server's current timeline.
    public var timeline: TimelineID
    /// The current WAL flush position.
    public var xlogPosition: LSN
    /// The connection's database (replication=database connections have one).
    public var database: String?

    public init(systemIdentifier: UInt64, timeline: TimelineID, xlogPosition: LSN, database: String?) {
        self.systemIdentifier = systemIdentifier
        self.timeline = timeline
        self.xlogPosition = xlogPosition
        self.database = database
    }
}

/// A walsender connection (`replication=database`) to PostgreSQL: replication commands and plain
/// SQL over the simple query protocol.
///
/// Contract:
/// - All libpq work runs on the connection's own thread (its `BlockingPool` lane), never on Swift's
///   cooperative pool; async methods suspend until that thread is done.
/// - One operation at a time: calls made while another is running wait their turn, except while
///   a base backup streams (they throw `invalidArgument` rather than wait for the backup).
/// - Cancelling the calling task abandons a call that has not started (the connection is left
///   alone); a call that is running is cancelled on the server (`PQcancel`) and the connection is
///   closed, its state being unknown; later calls throw `closed`.
/// - Notices go to the `onNotice` handler given to `connect` and to `takeNotices()`, never to stderr.
/// - `close()` is idempotent and also runs when the last reference goes away.
public final class ReplicationConnection: Sendable {
    let session: LibPQSession
    let backupRunning = Atomic<Bool>(false)

    private init(session: LibPQSession) {
        self.session = session
    }

    deinit {
        session.close()
    }

    /// Opens a replication connection (wraps `PQconnectStartParams`/`PQconnectPoll`, the
    /// non-blocking form of `PQconnectdbParams`, with `expand_dbname`).
    ///
    /// `conninfo` is a libpq connection string or URI; `replication=database` is added (and wins
    /// over any `replication` in it). Empty: libpq's `PG*` variables, service file, `.pgpass` and
    /// defaults decide. Throws `timeout` when the server has not completed the start-up within
    /// `timeout`; failures are classified (see `ReplicationError.Code`), and no message contains
    /// the password. Note: `pg_hba.conf` matches a replication=database connection by its
    /// database name, not by the `replication` keyword.
    public static func connect(
        conninfo: String, timeout: Duration = .seconds(30),
        onNotice: (@Sendable (ServerMessage) -> Void)? = nil
    ) async throws -> ReplicationConnection {
        guard !conninfo.contains("\0") else {
            throw ReplicationError(.invalidArgument, "unable to connect: the connection string contains a NUL byte")
        }
        let session = try LibPQSession(onNotice: onNotice)
        let deadline = ContinuousClock.now + min(timeout, .seconds(86_400))
        do {
            try await run(on: session, cancelRequest: false) { session, token in
                try session.connect(conninfo: conninfo, deadline: deadline, token: token)
            }
        } catch {
            session.close()
            throw error
        }
        return ReplicationConnection(session: session)
    }

    /// The server's version number, e.g. 150018 (`PQserverVersion`, read once at connect).
    public var serverVersionNumber: Int { session.serverVersion }

    /// `host=… port=… user=… dbname=…` of this connection, for messages (no password).
    public var target: String { session.target }

    /// `host H port P`, or `socket DIR/.s.PGSQL.P`, of this connection.
    public var endpoint: String { session.endpoint }

    /// True after `close()`, a cancellation or a failure that ended the connection.
    public var isClosed: Bool { session.isClosed }

    /// Closes the connection (wraps `PQfinish`); a running operation ends with `closed`.
    /// Idempotent, callable from any thread, does not wait for the network.
    public func close() {
        session.close()
    }

    /// Returns and forgets the notices received so far (at most the last 256).
    public func takeNotices() -> [ServerMessage] {
        session.notices.take()
    }

    /// Runs `IDENTIFY_SYSTEM` (`PQsendQuery`, then `PQgetResult` until done, on the connection's
    /// thread). Throws `protocol` when the reply is not the documented one-row result.
    public func identifySystem() async throws -> SystemIdentity {
        let result = try await rows(of: "IDENTIFY_SYSTEM", doing: "run IDENTIFY_SYSTEM")
        guard result.rows.count == 1, result.columns.count >= 4,
            let systemIdentifier = result.text(0, 0).flatMap({ UInt64($0) }),
            let timeline = result.text(0, 1).flatMap({ UInt32($0) }),
            let position = result.text(0, 2).flatMap({ LSN($0) })
        else {
            throw ReplicationError(.protocol, "unable to read the IDENTIFY_SYSTEM reply of \(target): unexpected row")
        }
        return SystemIdentity(
            systemIdentifier: systemIdentifier, timeline: TimelineID(timeline), xlogPosition: position,
            database: result.text(0, 3))
    }

    /// The value of one setting (`SHOW name` via `PQsendQuery`/`PQgetResult`), e.g. `16MB` for
    /// `wal_segment_size`. `name` must be a plain (optionally dotted) identifier; anything else
    /// throws `invalidArgument` before reaching the server.
    public func show(_ name: String) async throws -> String {
        let identifier = name.utf8.allSatisfy { byte in
            byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || (0x30...0x39).contains(byte)
                || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte)
        }
        guard identifier, let first = name.utf8.first, !(0x30...0x39).contains(first) else {
            throw ReplicationError(.invalidArgument, "unable to show setting '\(name)': not a setting name")
        }
        let result = try await rows(of: "SHOW " + name, doing: "show setting '\(name)'")
        guard let value = result.text(0, 0) else {
            throw ReplicationError(.protocol, "unable to show setting '\(name)': the server returned no value")
        }
        return value
    }

    /// Runs `sql` with the simple query protocol (`PQsendQuery`, `PQgetResult`; a walsender
    /// rejects the extended protocol, so there are no parameters: quote values yourself) and
    /// returns the rows, as text, of the last statement that returned rows (empty when none did).
    /// Several statements may be separated by `;`. Meant for small results: rows are copied into
    /// memory. A server error throws `queryFailed` (with `sqlState`) and leaves the connection
    /// usable; a statement that starts a COPY closes the connection and throws `protocol`.
    public func simpleQuery(_ sql: String) async throws -> [[String?]] {
        let result = try await rows(of: sql, doing: "run a query")
        return result.rows.map { row in row.map { $0.map { String(decoding: $0, as: UTF8.self) } } }
    }

    /// Fetches a timeline history file (`TIMELINE_HISTORY tli` via `PQsendQuery`/`PQgetResult`;
    /// the content is read with `PQgetlength`, so it is byte-exact): its file name and bytes.
    /// Throws `queryFailed` when the server has no such file (e.g. for timeline 1).
    public func timelineHistory(_ timeline: TimelineID) async throws -> (fileName: String, content: [UInt8]) {
        let result = try await rows(of: "TIMELINE_HISTORY \(timeline.rawValue)", doing: "fetch the history of timeline \(timeline)")
        guard result.rows.count == 1, let name = result.text(0, 0), result.rows[0].count >= 2,
            let content = result.rows[0][1]
        else {
            throw ReplicationError(.protocol, "unable to fetch the history of timeline \(timeline): unexpected reply")
        }
        return (name, content)
    }

    // MARK: - Running work on the connection's thread

    /// Runs `command` to completion and returns its last row-returning result (an empty one when
    /// none returned rows). Server errors throw after the remaining results have been read, so
    /// the connection stays usable.
    private func rows(of command: String, doing what: String) async throws -> QueryResult {
        guard !command.contains("\0") else {
            throw ReplicationError(.invalidArgument, "unable to \(what): the command contains a NUL byte")
        }
        guard !backupRunning.load(ordering: .acquiring) else {
            throw ReplicationError(.invalidArgument, "unable to \(what): a base backup is streaming on this connection")
        }
        return try await Self.run(on: session, cancelRequest: true) { session, token in
            try session.send(command, token: token)
            var last = QueryResult.empty
            var failure: ServerMessage?
            while let result = try session.nextResult(token: token) {
                switch result.status {
                case .tuples: last = result
                case .error: failure = failure ?? result.error
                case .copyIn, .copyOut, .copyBoth:
                    session.close()
                    throw ReplicationError(.protocol, "unable to \(what): the command started a COPY, which this call cannot serve")
                default: break
                }
            }
            if let failure { throw ReplicationError.server(failure, doing: what, phase: .command) }
            return last
        }
    }

    /// Runs `body` on `session`'s thread and waits for it without blocking the caller's thread.
    ///
    /// Task cancellation sets the operation's token and wakes the thread. A job that has not
    /// started yet is abandoned at once; a running body that then throws `cancelled` leaves the
    /// connection in an unknown state, so it is closed (after a `PQcancel` when
    /// `cancelRequest`, so that the server stops the command too).
    static func run<T: Sendable>(
        on session: LibPQSession, cancelRequest: Bool,
        _ body: @escaping @Sendable (LibPQSession, OperationToken) throws -> T
    ) async throws -> T {
        let token = OperationToken()
        let slot = ContinuationSlot<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                slot.store(continuation)
                let accepted = session.lane.submit {
                    // Whoever takes the continuation resumes it: this job, or the cancellation
                    // handler while the job is still queued.
                    guard let continuation = slot.take() else { return }
                    guard !token.isCancelled else {
                        continuation.resume(throwing: ReplicationError.cancelledError)
                        return
                    }
                    do {
                        continuation.resume(returning: try body(session, token))
                    } catch {
                        if (error as? ReplicationError)?.code == .cancelled {
                            if cancelRequest { session.sendCancelRequest() }
                            session.close()
                        }
                        continuation.resume(throwing: error)
                    }
                }
                if !accepted { slot.take()?.resume(throwing: ReplicationError.closedError) }
            }
        } onCancel: {
            token.cancel()
            session.wake()
            slot.take()?.resume(throwing: ReplicationError.cancelledError)
        }
    }
}

/// A continuation that exactly one of several parties may take and resume.
private final class ContinuationSlot<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func store(_ value: CheckedContinuation<T, any Error>) {
        continuation.withLock { $0 = value }
    }

    func take() -> CheckedContinuation<T, any Error>? {
        continuation.withLock { value in
            defer { value = nil }
            return value
        }
    }
}

