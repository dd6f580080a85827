/// The identity of a backup: its start time (UTC, to the second) and type letter, e.g.
/// `20261126-153000F` or `20261127-010000I`. Sorting by id sorts by start time.
public struct BackupID: RawRepresentable, Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init?(rawValue: String) {
        let u = Array(rawValue.utf8)
        guard u.count == 16, u[8] == UInt8(ascii: "-"), u[15] == UInt8(ascii: "F") || u[15] == UInt8(ascii: "I"),
              u[0..<8].allSatisfy({ $0 >= 48 && $0 <= 57 }), u[9..<15].allSatisfy({ $0 >= 48 && $0 <= 57 })
        else { return nil }
        self.rawValue = rawValue
    }

    /// `date` is `YYYYMMDD`, `time` is `HHMMSS`.
    public init?(date: String, time: String, type: BackupType) {
        self.init(rawValue: "\(date)-\(time)\(type == .full ? "F" : "I")")
    }

    public var type: BackupType { rawValue.hasSuffix("F") ? .full : .incremental }
    public var description: String { rawValue }
    public static func < (a: BackupID, b: BackupID) -> Bool { a.rawValue < b.rawValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = BackupID(rawValue: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a backup id: \(text)"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}

public enum BackupType: String, Codable, Sendable, CaseIterable {
    case full, incremental
}

/// Where a run of blocks is stored: `count` consecutive blocks of a file starting at block
/// `firstBlock`, stored contiguously at `offset` in the plaintext of pack `pack` (an index
/// into `BackupCatalog.packs`). Pack -1 means "all zero bytes, not stored".
public struct Extent: Hashable, Sendable, Codable {
    public var firstBlock: Int64
    public var count: Int64
    public var pack: Int
    public var offset: Int64

    public static let zeroPack = -1

    public init(firstBlock: Int64, count: Int64, pack: Int, offset: Int64) {
        self.firstBlock = firstBlock
        self.count = count
        self.pack = pack
        self.offset = offset
    }

    // Encoded as a 4-element array: catalogs hold many extents.
    public init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        firstBlock = try c.decode(Int64.self)
        count = try c.decode(Int64.self)
        pack = try c.decode(Int.self)
        offset = try c.decode(Int64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(firstBlock)
        try c.encode(count)
        try c.encode(pack)
        try c.encode(offset)
    }
}

/// One pack object a backup reads from (its own or an ancestor's).
public struct PackRef: Hashable, Sendable, Codable {
    public var backup: BackupID
    public var name: String
    /// Bytes of the stored (compressed, encrypted) object.
    public var storedSize: Int64
    public init(backup: BackupID, name: String, storedSize: Int64) {
        self.backup = backup
        self.name = name
        self.storedSize = storedSize
    }
}

/// A file, directory or symlink of the backed-up cluster.
public struct CatalogEntry: Hashable, Sendable, Codable {
    public enum Kind: String, Codable, Sendable { case file, directory, symlink }
    /// Relative to the data directory, or to the tablespace directory when `tablespace` is set.
    public var path: String
    public var kind: Kind
    public var mode: UInt32
    public var size: Int64
    /// Seconds since the epoch.
    public var modified: Int64
    /// Hex SHA-256 of the file content (files only).
    public var sha256: String?
    /// Symlink target.
    public var target: String?
    /// Tablespace OID; nil for the main data directory.
    public var tablespace: UInt32?
    public var extents: [Extent]?

    public init(path: String, kind: Kind, mode: UInt32, size: Int64 = 0, modified: Int64 = 0, sha256: String? = nil,
                target: String? = nil, tablespace: UInt32? = nil, extents: [Extent]? = nil) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.size = size
        self.modified = modified
        self.sha256 = sha256
        self.target = target
        self.tablespace = tablespace
        self.extents = extents
    }
}

/// A tablespace as BASE_BACKUP reported it.
public struct CatalogTablespace: Hashable, Sendable, Codable {
    public var oid: UInt32
    public var location: String
    public init(oid: UInt32, location: String) {
        self.oid = oid
        self.location = location
    }
}

/// Everything known about one completed backup. Written last: a backup without a catalog
/// never happened.
public struct BackupCatalog: Sendable, Codable, Equatable {
    public var formatVersion: Int = 1
    public var id: BackupID
    public var type: BackupType
    public var parent: BackupID?
    public var label: String
    /// ISO 8601 with zone.
    public var startTime: String
    public var stopTime: String
    public var startLSN: LSN
    public var stopLSN: LSN
    public var timeline: UInt32
    public var stopTimeline: UInt32
    public var postgresVersion: Int
    public var systemIdentifier: String
    public var walSegmentSize: UInt64
    public var blockSize: Int
    public var backupLabel: String
    public var tablespaceMap: String?
    public var tablespaces: [CatalogTablespace]
    /// Sum of the sizes of all files.
    public var databaseSize: Int64
    /// Bytes stored by this backup (its own packs and metadata), after compression.
    public var storedSize: Int64
    public var durationSeconds: Double
    public var packs: [PackRef]
    public var entries: [CatalogEntry]

    public init(id: BackupID, type: BackupType, parent: BackupID?, label: String, startTime: String, stopTime: String,
                startLSN: LSN, stopLSN: LSN, timeline: UInt32, stopTimeline: UInt32, postgresVersion: Int,
                systemIdentifier: String, walSegmentSize: UInt64, blockSize: Int, backupLabel: String, tablespaceMap: String?,
                tablespaces: [CatalogTablespace], databaseSize: Int64, storedSize: Int64, durationSeconds: Double,
                packs: [PackRef], entries: [CatalogEntry]) {
        self.id = id
        self.type = type
        self.parent = parent
        self.label = label
        self.startTime = startTime
        self.stopTime = stopTime
        self.startLSN = startLSN
        self.stopLSN = stopLSN
        self.timeline = timeline
        self.stopTimeline = stopTimeline
        self.postgresVersion = postgresVersion
        self.systemIdentifier = systemIdentifier
        self.walSegmentSize = walSegmentSize
        self.blockSize = blockSize
        self.backupLabel = backupLabel
        self.tablespaceMap = tablespaceMap
        self.tablespaces = tablespaces
        self.databaseSize = databaseSize
        self.storedSize = storedSize
        self.durationSeconds = durationSeconds
        self.packs = packs
        self.entries = entries
    }
}

/// Path rules for restoring catalog entries: nothing may leave the target directory.
public enum CatalogPath {
    /// True when `path` is relative, has no empty, `.` or `..` components and no NUL.
    public static func isSafe(_ path: String) -> Bool {
        guard !path.isEmpty, !path.hasPrefix("/"), !path.utf8.contains(0) else { return false }
        return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }
}
