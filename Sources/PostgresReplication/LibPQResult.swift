import CLibPQ
import Synchronization
import TidemarkSystem

/// The fields of a server ErrorResponse or NoticeResponse.
public struct ServerMessage: Sendable, Equatable {
    /// Untranslated severity (`ERROR`, `FATAL`, `NOTICE`, `WARNING`, …; PG_DIAG_SEVERITY_NONLOCALIZED).
    public var severity: String
    /// Five-character SQLSTATE, when the server sent one.
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var hint: String?

    /// Reads the diagnostic fields of `result` (wraps `PQresultErrorField`). Call under the
    /// session lock; does not take ownership of `result`.
    init(result: OpaquePointer) {
        func field(_ code: Int32) -> String? {
            guard let value = PQresultErrorField(result, code) else { return nil }
            return String(cString: value)
        }
        let severityCode = Int32(UInt8(ascii: "V"))  // PG_DIAG_SEVERITY_NONLOCALIZED
        severity = field(severityCode) ?? field(Int32(UInt8(ascii: "S"))) ?? "ERROR"
        sqlState = field(Int32(UInt8(ascii: "C")))
        message = field(Int32(UInt8(ascii: "M")))
            ?? String(cString: PQresultErrorMessage(result)).trimmingTrailingNewlines()
        detail = field(Int32(UInt8(ascii: "D")))
        hint = field(Int32(UInt8(ascii: "H")))
    }

    public init(severity: String, sqlState: String?, message: String, detail: String? = nil, hint: String? = nil) {
        self.severity = severity
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
    }
}

/// A `PGresult` copied into Swift values, so that no libpq pointer outlives the session lock.
struct QueryResult: Sendable {
    enum Status: Equatable, Sendable {
        case tuples, command, emptyQuery, copyOut, copyIn, copyBoth, error, other(UInt32)
    }

    var status: Status
    var columns: [String]
    /// Row-major values in the text format (raw bytes; `nil` for SQL NULL).
    var rows: [[[UInt8]?]]
    var error: ServerMessage?

    /// A result with no columns and no rows.
    static let empty = QueryResult(status: .command, columns: [], rows: [], error: nil)

    init(status: Status, columns: [String], rows: [[[UInt8]?]], error: ServerMessage?) {
        self.status = status
        self.columns = columns
        self.rows = rows
        self.error = error
    }

    /// Copies status, column names, values and error fields out of `result` (wraps
    /// `PQresultStatus`, `PQnfields`, `PQfname`, `PQntuples`, `PQgetisnull`, `PQgetvalue`,
    /// `PQgetlength`). Call under the session lock; the caller still owns and clears `result`.
    init(copying result: OpaquePointer) {
        let raw = PQresultStatus(result)
        switch raw {
        case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE: status = .tuples
        case PGRES_COMMAND_OK: status = .command
        case PGRES_EMPTY_QUERY: status = .emptyQuery
        case PGRES_COPY_OUT: status = .copyOut
        case PGRES_COPY_IN: status = .copyIn
        case PGRES_COPY_BOTH: status = .copyBoth
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE: status = .error
        default: status = .other(raw.rawValue)
        }
        let fieldCount = PQnfields(result)
        columns = (0..<fieldCount).map { PQfname(result, $0).map { String(cString: $0) } ?? "" }
        rows = (0..<PQntuples(result)).map { row in
            (0..<fieldCount).map { column -> [UInt8]? in
                if PQgetisnull(result, row, column) == 1 { return nil }
                let length = Int(PQgetlength(result, row, column))
                guard length > 0, let value = PQgetvalue(result, row, column) else { return [] }
                return Array(UnsafeRawBufferPointer(start: value, count: length))
            }
        }
        error = status == .error ? ServerMessage(result: result) : nil
    }

    /// The value at `row`, `column` as UTF-8 text (`nil` for NULL or a missing cell).
    func text(_ row: Int, _ column: Int) -> String? {
        guard row < rows.count, column < rows[row].count, let bytes = rows[row][column] else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Where a connection's notices go instead of libpq's default (stderr): a bounded list of the
/// most recent ones and an optional handler. The handler runs on the connection's libpq thread
/// while the session lock is held: it must not call back into the connection.
final class NoticeSink: Sendable {
    static let capacity = 256
    private let notices = Mutex<[ServerMessage]>([])
    private let handler: (@Sendable (ServerMessage) -> Void)?

    init(handler: (@Sendable (ServerMessage) -> Void)?) {
        self.handler = handler
    }

    func receive(_ notice: ServerMessage) {
        notices.withLock { notices in
            if notices.count == Self.capacity { notices.removeFirst() }
            notices.append(notice)
        }
        handler?(notice)
    }

    func take() -> [ServerMessage] {
        notices.withLock { notices in
            defer { notices.removeAll() }
            return notices
        }
    }

    /// Installs this sink as `connection`'s notice receiver (wraps `PQsetNoticeReceiver`). The
    /// sink must outlive the `PGconn`; the session guarantees it by owning both.
    func install(on connection: OpaquePointer) {
        let receiver: PQnoticeReceiver = { argument, result in
            guard let argument, let result else { return }
            let sink = Unmanaged<NoticeSink>.fromOpaque(argument).takeUnretainedValue()
            sink.receive(ServerMessage(result: result))
        }
        _ = PQsetNoticeReceiver(connection, receiver, Unmanaged.passUnretained(self).toOpaque())
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var text = self
        while text.last == "\n" || text.last == "\r" { text.removeLast() }
        return text
    }
}
