#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository

public struct RestoreOptions: Sendable {
    public var directory: String
    public var force = false
    /// Old tablespace location → new location.
    public var tablespaceMap: [String: String] = [:]
    /// Recovery settings (`name = 'value'` lines, `RecoverySettings.lines`), written into
    /// postgresql.auto.conf with recovery.signal (PostgreSQL 12+) or into recovery.conf.
    public var recoverySettings: [String] = []
    /// A comment line above the settings (what the plan decided).
    public var recoveryComment: String?
    /// The shell command PostgreSQL runs to fetch WAL (`%f`, `%p` placeholders included).
    public var restoreCommand: String
    /// The same command reading only from one repository (`wal-fetch --repo NAME`): used when
    /// the plan came from a repository other than the first (`PlanReport.readsOnlyFrom`).
    public var restoreCommandOnlyFrom: (@Sendable (String) -> String)?
    public var parallel = 2
    /// Check every restored block against the backup's block map (keyed GMAC per block,
    /// parallel, memory speed).
    public var verify = true
    /// Also read every file back and compare its SHA-256 with the catalog (slower: one
    /// sequential hash per file).
    public var verifyFileChecksums = false
    /// Paths the restore must neither delete nor write into (repositories, key file,
    /// configuration file): a target overlapping one is refused.
    public var protectedPaths: [(path: String, what: String)] = []
    /// Asked with the paths `force` would delete, before anything is deleted; false cancels
    /// the restore (nothing deleted or written). nil: proceed (no terminal: scripts).
    public var confirmDeletion: (@Sendable ([String]) async -> Bool)?
    /// Whether the restored cluster keeps the backed-up archive settings.
    public var archiveMode: ArchiveMode = .off
    /// Runs after the targets are prepared and before any backup data is written (the
    /// restore_command proof): a throw removes what the restore wrote and fails it.
    public var beforeWriting: (@Sendable () async throws -> Void)?
    /// The restored server's own configuration and restore_command (`tidemark restore`):
    /// proven before any data is written, and written beside the recovery settings. nil: the
    /// caller's `restoreCommand` is written as it is (rehearsal, library use).
    public var restoredServer: RestoredServerConfiguration?
    /// Called with the bytes written so far and the database size, from one task at a time.
    public var progress: (@Sendable (Int64, Int64) -> Void)?

    public init(directory: String, restoreCommand: String) {
        self.directory = directory
        self.restoreCommand = restoreCommand
    }
}

/// `restore --archive-mode`: `off` (the default) writes `archive_mode = off` for the
/// restored cluster, so a copy never archives into the stanza it came from; `preserve` keeps
/// the backed-up setting (a cluster that becomes the new primary).
public enum ArchiveMode: String, Sendable, CaseIterable {
    case off, preserve
}

public struct RestoreReport: Sendable {
    public var backup: BackupID
    public var files: Int
    public var bytes: Int64
    public var seconds: Double
}

extension BackupStore {
    /// Restores `catalog` into `options.directory`: every file fetched, authenticated, written
    /// (directories 0700, files 0600) and checked against its SHA-256; tablespaces linked;
    /// recovery configured. Refuses a non-empty directory unless `force`, and any catalog path
    /// that would leave the target.
    public func restore(_ catalog: BackupCatalog, options: RestoreOptions) async throws -> RestoreReport {
        let started = ContinuousClock.now
        let plan = try RestorePlan(catalog: catalog, options: options)
        let doomed = try plan.deletions(force: options.force)
        if !doomed.isEmpty, let confirm = options.confirmDeletion, !(await confirm(doomed)) {
            throw TidemarkError(.invalidInput, "restore cancelled: nothing was deleted or written",
                                hints: ["answer yes to delete what is listed, or restore into an empty directory"])
        }
        try plan.prepareDirectories(deleting: doomed)
        do {
            if let before = options.beforeWriting { try await before() }
            try plan.createEntries()
            let written = LockedBox<Int64>(0)
            let total = catalog.databaseSize
            var onBytes: (@Sendable (Int64) -> Void)?
            if let report = options.progress {
                onBytes = { (n: Int64) in
                    written.mutate { (sum: inout Int64) in
                        sum += n
                        report(sum, total)
                    }
                }
            }
            try await writePacks(plan: plan, catalog: catalog, parallel: max(1, options.parallel), progress: onBytes)
            if options.verify {
                let map = try await readObject(catalog.id, "blockmap")
                try await plan.verifyBlocks(map: map, blockSize: catalog.blockSize, hasher: BlockHasher(repositoryKey: repository.key),
                                      parallel: max(2, options.parallel))
            }
            if options.verifyFileChecksums { try await plan.verifyFiles(parallel: max(1, options.parallel)) }
            if let manifest = try? await readObject(catalog.id, "backup_manifest") {
                try plan.writeFile("backup_manifest", manifest)
            }
            try plan.writeRecoveryConfiguration(catalog: catalog, options: options)
        } catch {
            // Leave the targets as they were found (empty): never a half-restored directory
            // that looks like a data directory.
            plan.removeWritten()
            throw error
        }
        sync()
        let elapsed = ContinuousClock.now - started
        return RestoreReport(backup: catalog.id, files: plan.files.count, bytes: catalog.databaseSize,
                             seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// Streams every pack the catalog uses and scatters its blocks into the files.
    package func writePacks(plan: RestorePlan, catalog: BackupCatalog, parallel: Int, progress: (@Sendable (Int64) -> Void)? = nil) async throws {
        let work = plan.workByPack()
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = work.makeIterator()
            func launch() -> Bool {
                guard let (pack, items) = next.next() else { return false }
                let ref = catalog.packs[pack]
                let key = RepositoryLayout.backupObject(stanza, ref.backup, ref.name)
                group.addTask { try await self.scatter(key: key, items: items, plan: plan, progress: progress) }
                return true
            }
            for _ in 0..<parallel { if !launch() { break } }
            while try await group.next() != nil { _ = launch() }
        }
    }

    package func scatter(key: String, items: [RestorePlan.Item], plan: RestorePlan, progress: (@Sendable (Int64) -> Void)? = nil) async throws {
        guard let reader = try await store.openReader(key) else {
            throw TidemarkError(.corrupt, "pack '\(store.location)/\(key)' is missing: the backup cannot be restored from this repository")
        }
        var position: Int64 = 0
        var nextItem = 0
        var active: [RestorePlan.Item] = []
        let files = FileCache(plan: plan)
        defer { files.closeAll() }
        do {
            _ = try await decodeObject(reader, key: repository.key) { chunk in
                let end = position + Int64(chunk.count)
                while nextItem < items.count, items[nextItem].packOffset < end {
                    active.append(items[nextItem])
                    nextItem += 1
                }
                var still: [RestorePlan.Item] = []
                for item in active {
                    let from = max(item.packOffset, position)
                    let to = min(item.packOffset + item.length, end)
                    if to > from {
                        try chunk.withUnsafeBytes { raw in
                            let piece = UnsafeRawBufferPointer(rebasing: raw[Int(from - position)..<Int(to - position)])
                            try files.write(piece, file: item.file, at: item.fileOffset + (from - item.packOffset))
                        }
                    }
                    if item.packOffset + item.length > end { still.append(item) }
                }
                active = still
                position = end
                progress?(Int64(chunk.count))
            }
        } catch {
            throw TidemarkError.wrap(error, doing: "restore from pack '\(store.location)/\(key)'")
        }
        guard nextItem == items.count, active.isEmpty else {
            throw TidemarkError(.corrupt, "pack '\(store.location)/\(key)' is shorter than the catalog says (\(position) bytes)")
        }
    }
}

/// Keeps the last opened file so runs of the same file need one open.
package final class FileCache {
    package let plan: RestorePlan
    package var fd: Int32 = -1
    package var index = -1

    package init(plan: RestorePlan) { self.plan = plan }

    package func write(_ bytes: UnsafeRawBufferPointer, file: Int, at offset: Int64) throws {
        if index != file {
            closeAll()
            let path = plan.files[file].path
            fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw TidemarkError(.io, "unable to open '\(path)': \(String(cString: strerror(errno)))") }
            index = file
        }
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                let e = errno
                throw TidemarkError(.io, "unable to write '\(plan.files[file].path)': \(String(cString: strerror(e)))",
                                    hints: e == ENOSPC ? ["the file system holding the restore target is full"] : [])
            }
            done += n
        }
    }

    package func closeAll() {
        if fd >= 0 { close(fd) }
        fd = -1
        index = -1
    }
}
