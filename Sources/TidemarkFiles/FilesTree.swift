import TidemarkCore

/// One entry of a directory in a file snapshot. Names are bytes (any name the kernel accepts:
/// newlines, non-UTF-8), never `String`s.
public struct FilesEntry: Hashable, Sendable {
    public enum Kind: UInt8, Sendable, CaseIterable {
        case file = 1
        case directory = 2
        case symlink = 3
        /// A second (or later) name of a file met earlier in the same configured path:
        /// `linkTarget` is that earlier path; `chunks` and `size` repeat its content, so a
        /// filtered restore that leaves the first name out still writes the file.
        case hardLink = 4
    }

    public var name: [UInt8]
    public var kind: Kind
    /// The full `st_mode` (type and permission bits).
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    /// Nanoseconds since the epoch.
    public var mtime: Int64
    /// Kept for the next incremental's change check only; restore cannot set it.
    public var ctime: Int64
    public var size: UInt64
    public var inode: UInt64
    public var device: UInt64
    /// Files and hard links: the content's chunks in order.
    public var chunks: [ChunkID]
    /// Symlinks: the target bytes, as `readlink` gave them.
    public var symlinkTarget: [UInt8]
    /// Hard links: the earlier path relative to the configured path ("a/b/c").
    public var linkTarget: [UInt8]
    /// Directories: the chunk holding the subtree (`FilesTree`).
    public var subtree: ChunkID?
    /// The file changed while it was read, twice: stored as last read, flagged.
    public var changing: Bool

    public init(name: [UInt8], kind: Kind, mode: UInt32 = 0, uid: UInt32 = 0, gid: UInt32 = 0, mtime: Int64 = 0,
                ctime: Int64 = 0, size: UInt64 = 0, inode: UInt64 = 0, device: UInt64 = 0, chunks: [ChunkID] = [],
                symlinkTarget: [UInt8] = [], linkTarget: [UInt8] = [], subtree: ChunkID? = nil, changing: Bool = false) {
        self.name = name
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.mtime = mtime
        self.ctime = ctime
        self.size = size
        self.inode = inode
        self.device = device
        self.chunks = chunks
        self.symlinkTarget = symlinkTarget
        self.linkTarget = linkTarget
        self.subtree = subtree
        self.changing = changing
    }

    /// The permission bits (`mode & 0o7777`).
    public var permissions: UInt32 { mode & 0o7777 }

    /// A name restore may create: not empty, not `.` or `..`, no `/` and no NUL.
    public static func isSafeName(_ name: [UInt8]) -> Bool {
        !name.isEmpty && name != [0x2e] && name != [0x2e, 0x2e] && !name.contains(0x2f) && !name.contains(0)
    }
}

/// A directory of a file snapshot: its entries sorted by raw name bytes, encoded
/// deterministically, so an unchanged directory encodes to the same bytes, has the same chunk
/// id and is stored once. Format in docs/format.md ("File snapshots").
public struct FilesTree: Hashable, Sendable {
    public static let magic: [UInt8] = Array("TMFT".utf8)
    public static let version: UInt8 = 1

    /// Sorted by name bytes, names unique (`init` sorts; `decode` refuses disorder).
    public private(set) var entries: [FilesEntry]

    public init(entries: [FilesEntry]) {
        self.entries = entries.sorted { $0.name.lexicographicallyPrecedes($1.name) }
    }

    /// The entry named `name` (binary search).
    public func entry(named name: [UInt8]) -> FilesEntry? {
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].name == name { return entries[mid] }
            if entries[mid].name.lexicographicallyPrecedes(name) { low = mid + 1 } else { high = mid }
        }
        return nil
    }

    public func encoded() -> [UInt8] {
        var w = FilesByteWriter()
        w.raw(Self.magic)
        w.u8(Self.version)
        w.varint(entries.count)
        for e in entries {
            w.data(e.name)
            w.u8(e.kind.rawValue)
            w.u8(e.changing ? 1 : 0)
            w.varint(e.mode)
            w.varint(e.uid)
            w.varint(e.gid)
            w.signed(e.mtime)
            w.signed(e.ctime)
            w.varint(e.size)
            w.varint(e.inode)
            w.varint(e.device)
            switch e.kind {
            case .file:
                writeChunks(e.chunks, &w)
            case .hardLink:
                w.data(e.linkTarget)
                writeChunks(e.chunks, &w)
            case .symlink:
                w.data(e.symlinkTarget)
            case .directory:
                w.raw(e.subtree?.bytes ?? [UInt8](repeating: 0, count: 32))
            }
        }
        return w.bytes
    }

    private func writeChunks(_ chunks: [ChunkID], _ w: inout FilesByteWriter) {
        w.varint(chunks.count)
        for c in chunks { w.raw(c.bytes) }
    }

    /// Decodes a tree, refusing unknown versions, unknown kinds, disorder, duplicate names and
    /// trailing bytes. Names are not checked for safety here: restore checks each (`isSafeName`).
    public static func decode(_ bytes: [UInt8], what: String = "a directory tree") throws(TidemarkError) -> FilesTree {
        var r = FilesByteReader(bytes, what: what)
        guard try r.raw(4) == magic else { throw r.corrupt("not a directory tree") }
        let version = try r.u8()
        guard version == Self.version else { throw r.corrupt("tree format version \(version) is not supported") }
        let count = try r.int()
        guard count <= bytes.count else { throw r.corrupt("entry count out of range") }
        var entries: [FilesEntry] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            let name = try r.data()
            guard let kind = FilesEntry.Kind(rawValue: try r.u8()) else { throw r.corrupt("unknown entry type") }
            let flags = try r.u8()
            var e = FilesEntry(name: name, kind: kind, mode: try r.u32(), uid: try r.u32(), gid: try r.u32(),
                               mtime: try r.signed(), ctime: try r.signed(), size: try r.varint(),
                               inode: try r.varint(), device: try r.varint(), changing: flags & 1 != 0)
            switch kind {
            case .file:
                e.chunks = try readChunks(&r)
            case .hardLink:
                e.linkTarget = try r.data()
                e.chunks = try readChunks(&r)
            case .symlink:
                e.symlinkTarget = try r.data()
            case .directory:
                e.subtree = try r.chunkID()
            }
            if let last = entries.last, !last.name.lexicographicallyPrecedes(name) {
                throw r.corrupt("entries out of order or repeated")
            }
            entries.append(e)
        }
        guard r.isAtEnd else { throw r.corrupt("trailing bytes") }
        var tree = FilesTree(entries: [])
        tree.entries = entries
        return tree
    }

    private static func readChunks(_ r: inout FilesByteReader) throws(TidemarkError) -> [ChunkID] {
        let n = try r.int()
        guard n <= 1 << 26 else { throw r.corrupt("chunk count out of range") }
        var out: [ChunkID] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try r.chunkID()) }
        return out
    }
}
