import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage
import TidemarkSystem

/// What a base-backup stream delivers, in order (PostgresReplication adapts BASE_BACKUP to it;
/// tests feed it directly).
public enum BackupInput: Sendable, Equatable {
    case started(startLSN: LSN, timeline: TimelineID)
    case tablespaces([CatalogTablespace])
    /// A new archive: the main data directory (nil) or a tablespace (its OID).
    case archive(tablespace: UInt32?)
    case directory(path: String, mode: UInt32)
    case symlink(path: String, target: String)
    case fileStarted(path: String, size: Int64, mode: UInt32, modified: Int64)
    case fileData([UInt8])
    case fileEnded
    case manifest([UInt8])
    case finished(stopLSN: LSN, timeline: TimelineID)
}

/// A pull source of `BackupInput`; nil at the end.
public protocol BackupInputSource {
    mutating func next() async throws -> BackupInput?
}

/// Facts about the server taken before the stream starts.
public struct ServerFacts: Sendable {
    public var systemIdentifier: String
    public var postgresVersion: Int
    public var walSegmentSize: UInt64
    public var blockSize: Int
    public init(systemIdentifier: String, postgresVersion: Int, walSegmentSize: UInt64, blockSize: Int) {
        self.systemIdentifier = systemIdentifier
        self.postgresVersion = postgresVersion
        self.walSegmentSize = walSegmentSize
        self.blockSize = blockSize
    }
}
