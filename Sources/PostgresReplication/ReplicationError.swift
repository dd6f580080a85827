import TidemarkSystem
/// The error of the PostgresReplication module: a stable `code`, a one-line message naming what
/// failed, the server's SQLSTATE when there was one, and hints that say what to do.
///
/// Contract: `message` and `hints` never contain a password. Connection strings are not echoed;
/// messages describe the target by host, port, user and database only, and every text that came
/// from libpq or the server passes through `SecretRedaction` first.
public struct ReplicationError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; compare with `==` against the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Value: String {
            case connectionFailed, authenticationFailed, noReplicationPermission, noHBAEntry
            case tooManyWalSenders, walLevelTooLow, queryFailed, `protocol`, invalidArchive, unsafePath
            case invalidArgument, timeout, cancelled, closed
        }
        let value: Value
        /// The server could not be reached, or the connection broke.
        public static let connectionFailed = Code(value: .connectionFailed)
        /// Wrong or missing password, unknown role, rejected by `pg_hba.conf` (other than "no entry").
        public static let authenticationFailed = Code(value: .authenticationFailed)
        /// The role lacks the `REPLICATION` attribute (SQLSTATE 42501 while connecting).
        public static let noReplicationPermission = Code(value: .noReplicationPermission)
        /// No `pg_hba.conf` line matches (SQLSTATE 28000, "no pg_hba.conf entry").
        public static let noHBAEntry = Code(value: .noHBAEntry)
        /// No free WAL sender slot, or no connection slot at all (SQLSTATE 53300).
        public static let tooManyWalSenders = Code(value: .tooManyWalSenders)
        /// `wal_level` is `minimal` (SQLSTATE 55000, "WAL level not sufficient").
        public static let walLevelTooLow = Code(value: .walLevelTooLow)
        /// The server rejected a command; `sqlState` says why.
        public static let queryFailed = Code(value: .queryFailed)
        /// The server's replies were not what the protocol promises.
        public static let `protocol` = Code(value: .protocol)
        /// The tar stream is malformed (bad checksum, truncated, unsupported entry type).
        public static let invalidArchive = Code(value: .invalidArchive)
        /// A tar entry's path is absolute or contains a `..` component.
        public static let unsafePath = Code(value: .unsafePath)
        /// The caller passed something the command cannot carry (e.g. a label with NUL).
        public static let invalidArgument = Code(value: .invalidArgument)
        /// The operation did not finish within its time limit.
        public static let timeout = Code(value: .timeout)
        /// The task was cancelled or `cancel()` was called.
        public static let cancelled = Code(value: .cancelled)
        /// The connection was closed (by `close()`, a cancellation or an earlier failure).
        public static let closed = Code(value: .closed)

        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    /// The server's SQLSTATE (e.g. `42501`), when the failure came from the server.
    public var sqlState: String?
    public var hints: [String]
    /// Where a connection attempt went: `host H port P`, or `socket /dir/.s.PGSQL.P` (nil when
    /// the failure is not about reaching the server).
    public var endpoint: String?

    public init(_ code: Code, _ message: String, sqlState: String? = nil, hints: [String] = []) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.hints = hints
    }

    public var description: String {
        ([message] + hints.map { "HINT: " + $0 }).joined(separator: "\n")
    }
}

extension ReplicationError {
    /// Which phase a server error happened in; the same SQLSTATE means different things.
    enum Phase {
        case connecting, command
    }

    /// Classifies a server error by SQLSTATE (and, where one SQLSTATE covers several causes, by
    /// the primary message of the untranslated server: "no pg_hba.conf entry", "WAL level").
    /// With a translated server those refinements fall back to the broader code.
    static func classify(sqlState: String?, serverMessage: String, phase: Phase) -> (Code, [String]) {
        guard let sqlState else {
            return (phase == .connecting ? .connectionFailed : .queryFailed, [])
        }
        switch sqlState {
        case "28000":
            if serverMessage.contains("no pg_hba.conf entry") {
                return (.noHBAEntry, [
                    "add a pg_hba.conf line for this user and database, then reload the server; a replication=database "
                        + "connection is matched by its database name, not by the keyword 'replication'",
                ])
            }
            return (.authenticationFailed, ["check the role name and pg_hba.conf"])
        case "28P01":
            return (.authenticationFailed, ["check the password (PGPASSWORD, ~/.pgpass or the connection string)"])
        case "42501" where phase == .connecting:
            return (.noReplicationPermission, [
                "grant the role the REPLICATION attribute (ALTER ROLE … REPLICATION) or connect as one that has it",
            ])
        case "53300":
            return (.tooManyWalSenders, [
                "raise max_wal_senders (needs a restart) or end idle WAL senders; wal_level = minimal forces max_wal_senders = 0",
            ])
        case "55000" where serverMessage.contains("WAL level"):
            return (.walLevelTooLow, ["set wal_level = replica (or logical) and restart the server"])
        case "57014":
            return (.cancelled, [])
        default:
            if sqlState.hasPrefix("08") || sqlState.hasPrefix("57P") { return (.connectionFailed, []) }
            return (phase == .connecting ? .connectionFailed : .queryFailed, [])
        }
    }

    /// An error for a server ErrorResponse, with DETAIL and HINT lines kept as hints.
    static func server(_ error: ServerMessage, doing what: String, phase: Phase) -> ReplicationError {
        let (code, hints) = classify(sqlState: error.sqlState, serverMessage: error.message, phase: phase)
        var allHints = hints
        if let detail = error.detail { allHints.append("server detail: " + SecretRedaction.redact(detail)) }
        if let hint = error.hint { allHints.append("server hint: " + SecretRedaction.redact(hint)) }
        return ReplicationError(
            code, "unable to \(what): \(SecretRedaction.redact(error.message))", sqlState: error.sqlState,
            hints: allHints)
    }

    static let cancelledError = ReplicationError(.cancelled, "the replication operation was cancelled")
    static let closedError = ReplicationError(.closed, "the replication connection is closed")
}
