/// Every chunk a set of snapshots references: their directory trees (each read once, however
/// many snapshots share it) and the content chunks of every file in them. What `expire` keeps
/// when it prunes packs; a chunk outside this set is garbage.
public enum FilesReachable {
    public struct Result: Sendable {
        public var chunks: Set<ChunkID> = []
        public var treesRead = 0
    }

    /// A tree that cannot be read fails the walk: a chunk it would have named must not be
    /// deleted on a guess.
    public static func chunks(of snapshots: [FilesSnapshot], source: any ChunkSource) async throws -> Result {
        var result = Result()
        var pending: [ChunkID] = []
        for s in snapshots {
            for root in s.roots {
                guard let entry = root.root else { continue }
                add(entry, &result, &pending)
            }
        }
        while let id = pending.popLast() {
            let tree = try FilesTree.decode(try await source.chunk(id), what: "directory tree \(id)")
            result.treesRead += 1
            for entry in tree.entries { add(entry, &result, &pending) }
        }
        return result
    }

    private static func add(_ entry: FilesEntry, _ result: inout Result, _ pending: inout [ChunkID]) {
        for c in entry.chunks { result.chunks.insert(c) }
        if let tree = entry.subtree, result.chunks.insert(tree).inserted { pending.append(tree) }
    }
}
