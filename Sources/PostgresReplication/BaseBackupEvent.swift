import TidemarkCore
import TidemarkSystem

/// One tablespace of a base backup, as the server lists it before the data.
public struct TablespaceInfo: Sendable, Equatable {
    /// The tablespace's OID; nil for the main data directory.
    public var oid: UInt32?
    /// Its location on the server; nil for the main data directory.
    public var location: String?
    /// The server's size estimate in KiB; nil unless the backup asked for `progress`.
    public var estimatedSizeKiB: Int64?

    public init(oid: UInt32?, location: String?, estimatedSizeKiB: Int64?) {
        self.oid = oid
        self.location = location
        self.estimatedSizeKiB = estimatedSizeKiB
    }
}

/// What a base backup stream delivers, in order:
/// `started`, `tablespaces`, then per archive `archiveStarted`, its entries (`directory`,
/// `symlink`, or `fileStarted` + `fileData`… + `fileEnded`) and `archiveEnded`, with `progress`
/// anywhere in between; then `manifest` (when requested) and `finished`.
///
/// Paths are relative to the archive's root: the data directory for `base.tar`, the tablespace
/// location for `<oid>.tar` (whose entries start with `PG_<major>_<catversion>/`; the manifest
/// lists them as `pg_tblspc/<oid>/<path>`).
public enum BaseBackupEvent: Sendable, Equatable {
    case started(startLSN: LSN, timeline: TimelineID)
    case tablespaces([TablespaceInfo])
    /// `base.tar` (main directory, no location) or `<oid>.tar`.
    case archiveStarted(name: String, tablespaceLocation: String?)
    case directory(path: String, mode: UInt32)
    case symlink(path: String, target: String)
    /// `modified` is seconds since the Unix epoch.
    case fileStarted(path: String, size: Int64, mode: UInt32, modified: Int64)
    /// The next piece of the current file's content.
    case fileData([UInt8])
    case fileEnded
    case archiveEnded
    /// Bytes sent so far, as the server counts them.
    case progress(bytes: Int64)
    /// The whole backup manifest (JSON).
    case manifest([UInt8])
    case finished(endLSN: LSN, timeline: TimelineID)
}

/// One CopyData message of a PostgreSQL 15+ `BASE_BACKUP` COPY OUT stream. Pure decoding.
enum BaseBackupCopyMessage: Equatable {
    /// `n`: a new archive begins; location is nil for the main directory (empty on the wire).
    case newArchive(name: String, tablespaceLocation: String?)
    /// `d`: archive or manifest bytes, at offset 1 of the message.
    case data
    /// `p`: bytes done so far.
    case progress(Int64)
    /// `m`: the manifest follows as `d` messages.
    case manifestFollows

    /// Decodes `message` (type byte first); throws `protocol` for an unknown type or a short or
    /// unterminated message.
    static func decode(_ message: UnsafeRawBufferPointer) throws -> BaseBackupCopyMessage {
        guard let type = message.first else {
            throw ReplicationError(.protocol, "unable to read BASE_BACKUP data: empty CopyData message")
        }
        switch type {
        case UInt8(ascii: "d"):
            return .data
        case UInt8(ascii: "p"):
            guard message.count == 9 else {
                throw ReplicationError(.protocol, "unable to read BASE_BACKUP progress: message of \(message.count) bytes")
            }
            return .progress(Int64(bigEndian: message.loadUnaligned(fromByteOffset: 1, as: Int64.self)))
        case UInt8(ascii: "m"):
            return .manifestFollows
        case UInt8(ascii: "n"):
            let body = message[1...]
            guard let nameEnd = body.firstIndex(of: 0),
                let locationEnd = body[(nameEnd + 1)...].firstIndex(of: 0),
                let name = String(validating: body[body.startIndex..<nameEnd], as: UTF8.self),
                let location = String(validating: body[(nameEnd + 1)..<locationEnd], as: UTF8.self),
                !name.isEmpty
            else {
                throw ReplicationError(.protocol, "unable to read BASE_BACKUP archive header: malformed 'n' message")
            }
            return .newArchive(name: name, tablespaceLocation: location.isEmpty ? nil : location)
        default:
            throw ReplicationError(
                .protocol, "unable to read BASE_BACKUP data: unknown CopyData type 0x\(String(type, radix: 16))")
        }
    }
}
