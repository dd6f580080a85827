import TidemarkCore

/// A file snapshot: what one `files backup` stored (docs/format.md, "File snapshots"). Stored
/// as its own object (`FilesLayout.snapshot`, envelope kind `filesSnapshot`), written only after
/// every chunk it references is durable: a snapshot that exists restores alone.
public struct FilesSnapshot: Hashable, Sendable {
    public static let magic: [UInt8] = Array("TMFS".utf8)
    public static let version: UInt8 = 1
    /// The most paths each of the unreadable, changing and skipped lists keeps (the counts go on).
    public static let pathListLimit = 1000

    public enum Kind: UInt8, Sendable, Codable {
        case full = 1
        case incremental = 2
        public var name: String { self == .full ? "full" : "incremental" }
    }

    /// One configured path and what it held: `root` is its directory's entry (named by the full
    /// configured path), nil when the path could not be read at all.
    public struct Root: Hashable, Sendable {
        public var path: [UInt8]
        public var root: FilesEntry?
        public init(path: [UInt8], root: FilesEntry?) {
            self.path = path
            self.root = root
        }
        public var pathText: String { String(decoding: path, as: UTF8.self) }
    }

    /// A path and why it is listed (unreadable: the error; skipped: the file type or "other file system").
    public struct PathNote: Hashable, Sendable {
        public var path: [UInt8]
        public var reason: String
        public init(path: [UInt8], reason: String) {
            self.path = path
            self.reason = reason
        }
    }

    public struct Counts: Hashable, Sendable {
        public var files = 0
        public var directories = 0
        public var symlinks = 0
        /// Bytes of every file's content (hard links counted once).
        public var bytes: UInt64 = 0
        /// Bytes of chunks this run stored that were not stored before.
        public var newBytes: UInt64 = 0
        /// Bytes read from files (0 for a file an incremental reused).
        public var readBytes: UInt64 = 0
        public var unreadable = 0
        public var changing = 0
        public var skipped = 0
        public init() {}
    }

    /// 32 lowercase hex digits, random.
    public var id: String
    /// Nanoseconds since the epoch: when the backup started.
    public var time: Int64
    public var kind: Kind
    public var label: String?
    public var parent: String?
    public var roots: [Root]
    /// The database backup taken with these files, and the WAL positions (LSN text) at the
    /// snapshot's start and end; filled by the command, optional.
    public var databaseBackupID: String?
    public var walStart: String?
    public var walEnd: String?
    public var counts = Counts()
    public var unreadablePaths: [PathNote] = []
    public var changingPaths: [[UInt8]] = []
    public var skippedPaths: [PathNote] = []

    public init(id: String, time: Int64, kind: Kind, label: String? = nil, parent: String? = nil, roots: [Root] = []) {
        self.id = id
        self.time = time
        self.kind = kind
        self.label = label
        self.parent = parent
        self.roots = roots
    }

    /// Whether `text` has the shape of a snapshot id (so a key built from it stays in its place).
    public static func isValidID(_ text: String) -> Bool {
        text.utf8.count == 32 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    private enum Tag: UInt64 {
        case id = 1, time, kind, label, parent, root, databaseBackup, walStart, walEnd, counts, unreadable, changing, skipped
    }

    public func encoded() -> [UInt8] {
        var w = FilesByteWriter()
        w.raw(Self.magic)
        w.u8(Self.version)
        w.field(Tag.id.rawValue) { $0.string(id) }
        w.field(Tag.time.rawValue) { $0.signed(time) }
        w.field(Tag.kind.rawValue) { $0.u8(kind.rawValue) }
        if let label { w.field(Tag.label.rawValue) { $0.string(label) } }
        if let parent { w.field(Tag.parent.rawValue) { $0.string(parent) } }
        for r in roots {
            w.field(Tag.root.rawValue) { f in
                f.data(r.path)
                f.data(FilesTree(entries: r.root.map { [$0] } ?? []).encoded())
            }
        }
        if let databaseBackupID { w.field(Tag.databaseBackup.rawValue) { $0.string(databaseBackupID) } }
        if let walStart { w.field(Tag.walStart.rawValue) { $0.string(walStart) } }
        if let walEnd { w.field(Tag.walEnd.rawValue) { $0.string(walEnd) } }
        w.field(Tag.counts.rawValue) { f in
            for v in [counts.files, counts.directories, counts.symlinks, counts.unreadable, counts.changing, counts.skipped] {
                f.varint(v)
            }
            f.varint(counts.bytes)
            f.varint(counts.newBytes)
            f.varint(counts.readBytes)
        }
        for n in unreadablePaths { w.field(Tag.unreadable.rawValue) { $0.data(n.path); $0.string(n.reason) } }
        for p in changingPaths { w.field(Tag.changing.rawValue) { $0.data(p) } }
        for n in skippedPaths { w.field(Tag.skipped.rawValue) { $0.data(n.path); $0.string(n.reason) } }
        return w.bytes
    }

    /// Decodes a snapshot; fields of unknown tags are skipped (added later within version 1).
    public static func decode(_ bytes: [UInt8], what: String = "a file snapshot") throws(TidemarkError) -> FilesSnapshot {
        var r = FilesByteReader(bytes, what: what)
        guard try r.raw(4) == magic else { throw r.corrupt("not a file snapshot") }
        let version = try r.u8()
        guard version == Self.version else { throw r.corrupt("snapshot format version \(version) is not supported") }
        var s = FilesSnapshot(id: "", time: 0, kind: .full)
        var seen: Set<UInt64> = []
        while !r.isAtEnd {
            var (tag, f) = try r.field()
            seen.insert(tag)
            switch Tag(rawValue: tag) {
            case .id: s.id = try f.string()
            case .time: s.time = try f.signed()
            case .kind:
                guard let k = Kind(rawValue: try f.u8()) else { throw r.corrupt("unknown snapshot type") }
                s.kind = k
            case .label: s.label = try f.string()
            case .parent: s.parent = try f.string()
            case .root:
                let path = try f.data()
                let tree = try FilesTree.decode(try f.data(), what: what)
                guard tree.entries.count <= 1, tree.entries.allSatisfy({ $0.kind == .directory }) else {
                    throw r.corrupt("a configured path is not a directory")
                }
                s.roots.append(Root(path: path, root: tree.entries.first))
            case .databaseBackup: s.databaseBackupID = try f.string()
            case .walStart: s.walStart = try f.string()
            case .walEnd: s.walEnd = try f.string()
            case .counts:
                s.counts.files = try f.int()
                s.counts.directories = try f.int()
                s.counts.symlinks = try f.int()
                s.counts.unreadable = try f.int()
                s.counts.changing = try f.int()
                s.counts.skipped = try f.int()
                s.counts.bytes = try f.varint()
                s.counts.newBytes = try f.varint()
                s.counts.readBytes = try f.varint()
            case .unreadable: s.unreadablePaths.append(PathNote(path: try f.data(), reason: try f.string()))
            case .changing: s.changingPaths.append(try f.data())
            case .skipped: s.skippedPaths.append(PathNote(path: try f.data(), reason: try f.string()))
            case nil: continue
            }
        }
        guard seen.contains(Tag.id.rawValue), seen.contains(Tag.time.rawValue), isValidID(s.id) else {
            throw r.corrupt("the snapshot has no valid id or time")
        }
        return s
    }
}
