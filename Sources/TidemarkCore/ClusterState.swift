/// The `state` field of a cluster's `global/pg_control` (`DBState` in PostgreSQL's
/// `catalog/pg_control.h`, the same values in 9.0–17): whether the server is starting, shut
/// down, recovering or in production.
///
/// `ControlFileData` begins with `system_identifier` (uint64), `pg_control_version` (uint32),
/// `catalog_version_no` (uint32) and then `state` (a C enum, 4 bytes), all in the machine's
/// byte order; the file is 8192 bytes, written in one piece.
public enum ClusterState: UInt32, Sendable, CustomStringConvertible {
    case startingUp = 0
    case shutDown = 1
    case shutDownInRecovery = 2
    case shuttingDown = 3
    case inCrashRecovery = 4
    case inArchiveRecovery = 5
    case inProduction = 6

    /// Reads the state from the first bytes of `global/pg_control`; nil when they are too short
    /// or do not look like a control file (a `pg_control_version` outside 900–9999, or an
    /// unknown state).
    public init?(pgControl bytes: some Collection<UInt8>) {
        let head = Array(bytes.prefix(20))
        guard head.count == 20 else { return nil }
        func u32(_ offset: Int) -> UInt32 {
            head[offset..<offset + 4].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        }
        guard (900...9999).contains(u32(8)) else { return nil }
        self.init(rawValue: u32(16))
    }

    /// True while the server is replaying WAL (or starting up to): `restore_command` may still
    /// be called. A cluster shut down in recovery resumes recovery when started again.
    public var mayRecover: Bool {
        switch self {
        case .startingUp, .inCrashRecovery, .inArchiveRecovery, .shutDownInRecovery: return true
        case .shutDown, .shuttingDown, .inProduction: return false
        }
    }

    public var description: String {
        switch self {
        case .startingUp: return "starting up"
        case .shutDown: return "shut down"
        case .shutDownInRecovery: return "shut down in recovery"
        case .shuttingDown: return "shutting down"
        case .inCrashRecovery: return "in crash recovery"
        case .inArchiveRecovery: return "in archive recovery"
        case .inProduction: return "in production"
        }
    }
}
