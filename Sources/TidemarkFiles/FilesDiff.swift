import TidemarkCore

/// One difference between two snapshots (`files diff`).
public struct FilesChange: Sendable, Hashable {
    public enum Kind: String, Sendable {
        case added, removed
        /// Content (chunks, symlink or hard-link target) or type differs.
        case modified
        /// Only mode, owner, group or (for files and symlinks) mtime differ.
        case metadata
        /// A file removed under one name and added under another with the same content.
        case renamed
    }
    public var kind: Kind
    /// The original absolute path (the new one for `renamed`).
    public var path: [UInt8]
    /// For `renamed`: the old path.
    public var from: [UInt8]?
    public init(kind: Kind, path: [UInt8], from: [UInt8]? = nil) {
        self.kind = kind
        self.path = path
        self.from = from
    }
}

/// Differences between two snapshots. `compare` is the pure step over two trees of one
/// directory; `diff` walks both snapshots with it, entering only subtrees whose ids differ
/// (an equal id is equal content). An added or removed directory is one change (its contents
/// are not listed).
public enum FilesDiff {
    public struct Level: Sendable, Equatable {
        public var changes: [(name: [UInt8], kind: FilesChange.Kind, old: FilesEntry?, new: FilesEntry?)]
        /// Directories in both whose subtrees differ: compare them next.
        public var descend: [(name: [UInt8], old: ChunkID, new: ChunkID)]

        public static func == (a: Level, b: Level) -> Bool {
            a.changes.map { "\($0.name)\($0.kind)" } == b.changes.map { "\($0.name)\($0.kind)" }
                && a.descend.map { "\($0.name)\($0.old)\($0.new)" } == b.descend.map { "\($0.name)\($0.old)\($0.new)" }
        }
    }

    /// The changes between two versions of one directory, in name order (pure).
    public static func compare(_ old: FilesTree, _ new: FilesTree) -> Level {
        var level = Level(changes: [], descend: [])
        var i = 0
        var j = 0
        let a = old.entries
        let b = new.entries
        while i < a.count || j < b.count {
            if j == b.count || (i < a.count && a[i].name.lexicographicallyPrecedes(b[j].name)) {
                level.changes.append((a[i].name, .removed, a[i], nil))
                i += 1
            } else if i == a.count || b[j].name.lexicographicallyPrecedes(a[i].name) {
                level.changes.append((b[j].name, .added, nil, b[j]))
                j += 1
            } else {
                let (x, y) = (a[i], b[j])
                if x.kind == .directory, y.kind == .directory {
                    if let s = x.subtree, let t = y.subtree, s != t { level.descend.append((x.name, s, t)) }
                    if x.permissions != y.permissions || x.uid != y.uid || x.gid != y.gid {
                        level.changes.append((x.name, .metadata, x, y))
                    }
                } else if let kind = entryChange(x, y) {
                    level.changes.append((x.name, kind, x, y))
                }
                i += 1
                j += 1
            }
        }
        return level
    }

    static func entryChange(_ x: FilesEntry, _ y: FilesEntry) -> FilesChange.Kind? {
        let sameType = x.kind == y.kind || (x.kind != .directory && x.kind != .symlink && y.kind != .directory && y.kind != .symlink)
        if !sameType || x.chunks != y.chunks || x.size != y.size || x.symlinkTarget != y.symlinkTarget { return .modified }
        if x.permissions != y.permissions || x.uid != y.uid || x.gid != y.gid || x.mtime != y.mtime { return .metadata }
        return nil
    }

    /// Every change from `old` to `new`, reading trees from `source`; removed and added files with
    /// the same non-empty content become `renamed`.
    public static func diff(_ old: FilesSnapshot, _ new: FilesSnapshot, source: any ChunkSource) async throws -> [FilesChange] {
        var out: [FilesChange] = []
        var removedFiles: [[ChunkID]: [[UInt8]]] = [:]
        var addedFiles: [(path: [UInt8], chunks: [ChunkID])] = []
        func note(_ path: [UInt8], _ kind: FilesChange.Kind, _ o: FilesEntry?, _ n: FilesEntry?) {
            if kind == .removed, let o, o.kind != .directory, o.kind != .symlink, !o.chunks.isEmpty {
                removedFiles[o.chunks, default: []].append(path)
            } else if kind == .added, let n, n.kind != .directory, n.kind != .symlink, !n.chunks.isEmpty {
                addedFiles.append((path, n.chunks))
            }
            out.append(FilesChange(kind: kind, path: path))
        }
        func tree(_ id: ChunkID) async throws -> FilesTree {
            try FilesTree.decode(try await source.chunk(id), what: "directory tree \(id)")
        }
        let oldRoots = Dictionary(old.roots.map { ($0.path, $0.root) }, uniquingKeysWith: { a, _ in a })
        let newRoots = Dictionary(new.roots.map { ($0.path, $0.root) }, uniquingKeysWith: { a, _ in a })
        for path in Set(oldRoots.keys).union(newRoots.keys).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let o = oldRoots[path] ?? nil
            let n = newRoots[path] ?? nil
            guard let o, let n else {
                if o != nil { note(path, .removed, o, nil) }
                if n != nil { note(path, .added, nil, n) }
                continue
            }
            var stack: [(path: [UInt8], old: ChunkID, new: ChunkID)] = []
            if let s = o.subtree, let t = n.subtree, s != t { stack.append((path, s, t)) }
            while let (dir, s, t) = stack.popLast() {
                let level = compare(try await tree(s), try await tree(t))
                for c in level.changes { note(FilesPath.join(dir, c.name), c.kind, c.old, c.new) }
                for d in level.descend.reversed() { stack.append((FilesPath.join(dir, d.name), d.old, d.new)) }
            }
        }
        // Renames: an added file whose content a removed file had.
        var renamedFrom: [[UInt8]: [UInt8]] = [:]
        for added in addedFiles {
            if var sources = removedFiles[added.chunks], let from = sources.first {
                sources.removeFirst()
                removedFiles[added.chunks] = sources
                renamedFrom[added.path] = from
            }
        }
        let gone = Set(renamedFrom.values)
        return out.compactMap { c in
            if c.kind == .removed, gone.contains(c.path) { return nil }
            if c.kind == .added, let from = renamedFrom[c.path] { return FilesChange(kind: .renamed, path: c.path, from: from) }
            return c
        }.sorted { $0.path.lexicographicallyPrecedes($1.path) }
    }
}
