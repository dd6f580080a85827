/// The pack half of `expire` for file backups: which packs to delete, which to rewrite. A pure
/// decision over what the index says about each pack (FilesPruneTests).
public struct FilesPackUsage: Sendable, Hashable {
    public var pack: String
    /// Record bytes (and count) the index names in the pack.
    public var bytes: Int64 = 0
    public var chunks = 0
    /// Of which still referenced by a snapshot that is kept.
    public var liveBytes: Int64 = 0
    public var liveChunks = 0

    public init(pack: String, bytes: Int64 = 0, chunks: Int = 0, liveBytes: Int64 = 0, liveChunks: Int = 0) {
        self.pack = pack
        self.bytes = bytes
        self.chunks = chunks
        self.liveBytes = liveBytes
        self.liveChunks = liveChunks
    }

    public var garbageFraction: Double { bytes == 0 ? 1 : 1 - Double(liveBytes) / Double(bytes) }
}

public struct FilesPrunePlan: Sendable, Equatable {
    /// Packs with no live chunk, and packs no index page names (left by interrupted backups).
    public var delete: [String] = []
    /// Packs mostly garbage: their live chunks are copied into new packs, then they are deleted.
    public var rewrite: [String] = []
    /// Everything else stays as it is (its garbage too: rewriting a mostly live pack costs more
    /// than the space it frees).
    public var keep: [String] = []
    /// Bytes freed (index record bytes of deleted and rewritten packs, less what is copied).
    public var bytesFreed: Int64 = 0
    public var bytesCopied: Int64 = 0

    public init() {}

    /// `garbageThreshold`: a pack whose unreferenced share of bytes exceeds it is rewritten.
    /// `unindexed`: packs listed in the repository that no index page names; they are deleted
    /// (the caller holds the stanza's lock, so no backup is writing one right now).
    public static func decide(_ usage: [FilesPackUsage], unindexed: [String] = [], garbageThreshold: Double = 0.5) -> FilesPrunePlan {
        var plan = FilesPrunePlan()
        for u in usage.sorted(by: { $0.pack < $1.pack }) {
            if u.liveChunks == 0 {
                plan.delete.append(u.pack)
                plan.bytesFreed += u.bytes
            } else if u.garbageFraction > garbageThreshold {
                plan.rewrite.append(u.pack)
                plan.bytesFreed += u.bytes - u.liveBytes
                plan.bytesCopied += u.liveBytes
            } else {
                plan.keep.append(u.pack)
            }
        }
        let named = Set(usage.map(\.pack))
        plan.delete += unindexed.filter { !named.contains($0) }.sorted()
        return plan
    }

    public var changesAnything: Bool { !delete.isEmpty || !rewrite.isEmpty }
}
