import TidemarkCore
import TidemarkSystem

/// What one file backup reads and how.
public struct FilesBackupOptions: Sendable {
    /// The configured paths (`files.paths`), absolute directories.
    public var paths: [String]
    public var exclude: [String]
    /// Do not descend into directories on another file system than their configured path.
    public var oneFileSystem: Bool
    /// Fail the run (after storing what it could, without writing a snapshot) when a file was unreadable.
    public var failOnUnreadable: Bool
    public var kind: FilesSnapshot.Kind
    public var label: String?
    /// Files read at once (small files in parallel on the blocking pool).
    public var parallelReads: Int
    /// Bytes read from a file per call.
    public var blockSize: Int

    public init(paths: [String], exclude: [String] = [], oneFileSystem: Bool = true, failOnUnreadable: Bool = false,
                kind: FilesSnapshot.Kind = .incremental, label: String? = nil, parallelReads: Int = 4, blockSize: Int = 1 << 20) {
        self.paths = paths
        self.exclude = exclude
        self.oneFileSystem = oneFileSystem
        self.failOnUnreadable = failOnUnreadable
        self.kind = kind
        self.label = label
        self.parallelReads = max(1, parallelReads)
        self.blockSize = max(4096, blockSize)
    }
}

/// One file backup: walks every configured path with `lstat` (never following a symlink),
/// stores file content and directory trees as chunks through the sink, flushes it, and returns
/// the snapshot for the caller to write (`FilesSnapshotStore.write`, to every repository).
///
/// An incremental run (with a parent) reuses the chunk list of a file whose size, mtime, ctime
/// and inode equal its entry in the parent, without reading it; a full run reads everything.
/// Both produce a complete snapshot. Unreadable files are counted and listed; with
/// `failOnUnreadable` the run throws after the walk (no snapshot).
public struct FilesBackupRun: Sendable {
    public let options: FilesBackupOptions
    public let sink: any ChunkSink
    /// Where the parent's trees are read from (the same store, usually).
    public let source: (any ChunkSource)?
    public let chunking: any FilesChunking
    public let parent: FilesSnapshot?
    public let pool: BlockingPool
    public let hooks: FilesBackupHooks

    public init(options: FilesBackupOptions, sink: any ChunkSink, source: (any ChunkSource)?, chunking: any FilesChunking,
                parent: FilesSnapshot?, pool: BlockingPool = .shared, hooks: FilesBackupHooks = FilesBackupHooks()) {
        self.options = options
        self.sink = sink
        self.source = source
        self.chunking = chunking
        self.parent = options.kind == .incremental ? parent : nil
        self.pool = pool
        self.hooks = hooks
    }

    /// Walks, stores, flushes; the snapshot `id` taken at `time` (ns since the epoch).
    public func run(id: String = FilesSnapshot.newID(), time: Int64) async throws -> FilesSnapshot {
        var snapshot = FilesSnapshot(id: id, time: time, kind: parent == nil ? .full : .incremental,
                                     label: options.label, parent: parent?.id)
        let walk = FilesWalk(run: self)
        for path in options.paths {
            let bytes = Array(path.utf8)
            let parentRoot = parent?.roots.first { $0.path == bytes }?.root
            snapshot.roots.append(FilesSnapshot.Root(path: bytes, root: try await walk.backupRoot(bytes, parentRoot: parentRoot)))
        }
        let tally = walk.tally
        snapshot.counts = tally.counts
        snapshot.unreadablePaths = tally.unreadable
        snapshot.changingPaths = tally.changing
        snapshot.skippedPaths = tally.skipped
        if options.failOnUnreadable, tally.counts.unreadable > 0 {
            let first = tally.unreadable.first.map { " (first: '\(FilesPath.display($0.path))': \($0.reason))" } ?? ""
            throw TidemarkError(.io, "unable to back up files: \(tally.counts.unreadable) file(s) could not be read\(first)",
                                hints: ["files.failOnUnreadable is set, so no snapshot was written; fix the permissions or unset it"])
        }
        try await sink.flush()
        return snapshot
    }
}

/// Counts and the bounded lists of one run.
struct FilesTally {
    var counts = FilesSnapshot.Counts()
    var unreadable: [FilesSnapshot.PathNote] = []
    var changing: [[UInt8]] = []
    var skipped: [FilesSnapshot.PathNote] = []

    mutating func noteUnreadable(_ path: [UInt8], _ reason: String) {
        counts.unreadable += 1
        if unreadable.count < FilesSnapshot.pathListLimit { unreadable.append(.init(path: path, reason: reason)) }
    }

    mutating func noteSkipped(_ path: [UInt8], _ reason: String) {
        counts.skipped += 1
        if skipped.count < FilesSnapshot.pathListLimit { skipped.append(.init(path: path, reason: reason)) }
    }

    mutating func noteChanging(_ path: [UInt8]) {
        counts.changing += 1
        if changing.count < FilesSnapshot.pathListLimit { changing.append(path) }
    }
}
