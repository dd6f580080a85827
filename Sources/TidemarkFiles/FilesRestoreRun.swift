#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore
import TidemarkSystem

public struct FilesRestoreOptions: Sendable {
    /// `--to DIR`: created 0700 (with missing parents) when missing.
    public var target: String
    /// `PATH…`: original absolute paths to restore (empty: all).
    public var paths: [String]
    /// `--dry-run`: list what would be written, write nothing.
    public var dryRun: Bool
    /// `--allow-non-empty`: restore into a directory that has entries, replacing files of the
    /// same names (never deleting others). Without it a non-empty target is refused.
    public var allowNonEmpty: Bool
    /// Restore owners (uid, gid): only as root, by default.
    public var restoreOwners: Bool
    /// Files written at once, at most (their chunk reads, writes and fsyncs overlap).
    public var concurrency: Int

    public init(target: String, paths: [String] = [], dryRun: Bool = false, allowNonEmpty: Bool = false,
                restoreOwners: Bool = geteuid() == 0, concurrency: Int = 8) {
        self.target = target
        self.paths = paths
        self.dryRun = dryRun
        self.allowNonEmpty = allowNonEmpty
        self.restoreOwners = restoreOwners
        self.concurrency = concurrency
    }
}

/// What a restore wrote (or, dry, would write).
public struct FilesRestoreReport: Sendable {
    public struct Item: Sendable, Hashable {
        /// Relative to `--to`.
        public var path: [UInt8]
        public var kind: FilesEntry.Kind
        public var size: UInt64
    }
    public var files = 0
    public var directories = 0
    public var symlinks = 0
    public var hardLinks = 0
    public var bytes: UInt64 = 0
    /// Every entry, in the order written (dry runs only).
    public var items: [Item] = []
}

/// Restores a snapshot below `--to`: each configured path at `<to>/<path>`. Files are written to
/// a temporary name in their directory, sized, owned (as root), moded, timed, fsynced and
/// renamed, several at once (`concurrency`); symlinks are created as symlinks, hard links
/// re-linked to the name restored before (or written as files when the filters left that name
/// out); directories get their mode and mtime last, deepest first, and are fsynced, so a
/// restore that returns is durable. Names `.`, `..`, with `/` or NUL are refused, and every directory
/// is entered with `O_NOFOLLOW` from its parent's fd, so nothing escapes `--to`. A failed restore
/// leaves what it wrote and says so; its temporary files are removed.
public struct FilesRestoreRun: Sendable {
    public let snapshot: FilesSnapshot
    public let source: any ChunkSource
    public let options: FilesRestoreOptions
    public let pool: BlockingPool

    public init(snapshot: FilesSnapshot, source: any ChunkSource, options: FilesRestoreOptions, pool: BlockingPool = .shared) {
        self.snapshot = snapshot
        self.source = source
        self.options = options
        self.pool = pool
    }

    public func run() async throws -> FilesRestoreReport {
        let target = Array(options.target.utf8)
        let targetText = options.target
        let allow = options.allowNonEmpty
        try await pool.run("check \(targetText)") { () throws -> Void in
            let nonEmpty: Bool?
            do { nonEmpty = try FilesRestoreCalls.isNonEmptyDirectory(target) } catch {
                throw TidemarkError(.invalidInput, "unable to restore files to '\(targetText)': \(error)",
                                    hints: ["--to must name a directory (it is created when missing)"])
            }
            switch nonEmpty {
            case true? where !allow:
                throw TidemarkError(.invalidInput, "unable to restore files to '\(targetText)': the directory is not empty",
                                    hints: ["restore into an empty or new directory, or pass --allow-non-empty to write beside what is there (files of the same names are replaced)"])
            default: return
            }
        }
        let restorer = FilesRestorer(run: self)
        do {
            try await restorer.restoreAll(target: target)
        } catch {
            throw restorer.failure(error)
        }
        return restorer.report
    }
}
