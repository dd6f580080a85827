#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore
import TidemarkSystem

/// The state of one `FilesRestoreRun`: the directory walk over the snapshot's trees, what was
/// written, and the relative paths of restored files (for hard links).
///
/// The walk runs in one task; each file's content is written by a child task of one group, at
/// most `options.concurrency` at a time, so chunk reads, writes and fsyncs of several files
/// overlap. A directory is finished (its metadata, then fsync, so the renames in it are
/// durable) once every write in it is done; a hard link waits for the write of its first name.
/// Directory fds stay open until no write can use them: a failed restore closes them only
/// after the group has waited for every write.
final class FilesRestorer {
    private let run: FilesRestoreRun
    private let filter: FilesRestoreFilter
    private var pool: BlockingPool { run.pool }
    private(set) var report = FilesRestoreReport()
    /// Relative paths (below the configured path) of the files this restore wrote, for the
    /// configured path being restored.
    private var restoredFiles: Set<[UInt8]> = []
    /// The configured path being restored, below `--to`.
    private var rootShown: [[UInt8]] = []
    /// Writes in flight: in all, per directory (by serial) and their relative paths.
    private var writing = 0
    private var writingIn: [Int: Int] = [:]
    private var writingPaths: Set<[UInt8]> = []
    private var directories = 0
    private var openFDs: Set<Int32> = []

    typealias Writes = ThrowingTaskGroup<Written, any Error>
    struct Written: Sendable {
        var directory: Int
        var relative: [UInt8]
    }

    init(run: FilesRestoreRun) {
        self.run = run
        self.filter = FilesRestoreFilter(run.options.paths)
    }

    func restoreAll(target: [UInt8]) async throws {
        if !run.options.dryRun {
            try await pool.run("create \(run.options.target)") { try FilesRestoreCalls.makeDirectories(target) }
        }
        defer {
            for fd in openFDs { _ = close(fd) }
            openFDs = []
        }
        try await withThrowingTaskGroup(of: Written.self) { group in
            for root in run.snapshot.roots {
                try await restoreRoot(root, target: target, &group)
            }
        }
    }

    private func restoreRoot(_ root: FilesSnapshot.Root, target: [UInt8], _ group: inout Writes) async throws {
        guard let entry = root.root, filter.decision(root.path) != .skip else { return }
        let components = FilesPath.components(root.path)
        guard !components.isEmpty, components.allSatisfy(FilesEntry.isSafeName) else {
            throw refused(root.path, "the configured path is not an absolute path of plain names")
        }
        restoredFiles = []
        rootShown = components
        if run.options.dryRun {
            return try await restoreDirectory(entry, dirfd: -1, original: root.path, relative: [], shown: Array(components.joined(separator: [0x2f])), &group)
        }
        // The configured path's parents: plain directories (0700), entered without following.
        var chain = [(fd: try await pool.run("open \(run.options.target)") { try FilesRestoreCalls.openDirectory(target) }, display: target)]
        openFDs.insert(chain[0].fd)
        var shown: [UInt8] = []
        for c in components.dropLast() {
            shown = FilesPath.join(shown, c)
            let (parent, display) = (chain[chain.count - 1].fd, FilesPath.join(target, shown))
            let fd = try await pool.run("create directory") {
                try FilesRestoreCalls.openDirectory(at: parent, c, create: true, display: display)
            }
            openFDs.insert(fd)
            chain.append((fd, display))
        }
        try await restoreDirectory(entry, dirfd: chain[chain.count - 1].fd, original: root.path, relative: [],
                                   shown: FilesPath.join(shown, components[components.count - 1]), &group)
        try await drain(&group) { $0.writing == 0 }
        // The parents hold new entries too: durable, deepest first.
        for (fd, display) in chain.reversed() {
            try await pool.run("sync directory") { try FilesRestoreCalls.syncDirectory(fd, display: display) }
            openFDs.remove(fd)
            _ = close(fd)
        }
    }

    /// Creates (or enters) the directory `entry` inside `dirfd`, restores its tree, then sets its
    /// metadata and fsyncs it. `original` is its path at backup time, `relative` below the
    /// configured path, `shown` below `--to`.
    private func restoreDirectory(_ entry: FilesEntry, dirfd: Int32, original: [UInt8], relative: [UInt8], shown: [UInt8],
                                  _ group: inout Writes) async throws {
        guard let subtree = entry.subtree else { throw refused(shown, "the directory has no tree") }
        let tree = try FilesTree.decode(try await run.source.chunk(subtree), what: "directory tree \(subtree) ('\(FilesPath.display(original))')")
        let decision = filter.decision(original)
        let display = FilesPath.join(Array(run.options.target.utf8), shown)
        let name = Array(FilesPath.components(shown).last ?? [])
        report.directories += 1
        if run.options.dryRun {
            report.items.append(.init(path: shown, kind: .directory, size: 0))
            return try await restoreEntries(tree, dirfd: -1, directory: -1, original: original, relative: relative, shown: shown, within: decision, &group)
        }
        let fd = try await pool.run("create directory") { try FilesRestoreCalls.openDirectory(at: dirfd, name, create: true, display: display) }
        openFDs.insert(fd)
        let serial = directories
        directories += 1
        try await restoreEntries(tree, dirfd: fd, directory: serial, original: original, relative: relative, shown: shown, within: decision, &group)
        try await drain(&group) { $0.writingIn[serial] == nil }
        let metadata = decision == .include ? entry : nil
        let owners = run.options.restoreOwners
        try await pool.run("finish directory") { try FilesRestoreCalls.finishDirectory(fd, metadata, owners: owners, display: display) }
        openFDs.remove(fd)
        _ = close(fd)
    }

    private func restoreEntries(_ tree: FilesTree, dirfd: Int32, directory: Int, original: [UInt8], relative: [UInt8], shown: [UInt8],
                                within: FilesRestoreFilter.Decision, _ group: inout Writes) async throws {
        for e in tree.entries { guard FilesEntry.isSafeName(e.name) else { throw refused(FilesPath.join(shown, e.name), "the name is not a plain file name") } }
        // Files before subdirectories: the backup walk's order, so a hard link's target comes first.
        for pass in [false, true] {
            for e in tree.entries where (e.kind == .directory) == pass {
                let path = FilesPath.join(original, e.name)
                guard within == .include || filter.decision(path) != .skip else { continue }
                let rel = FilesPath.join(relative, e.name)
                let sh = FilesPath.join(shown, e.name)
                switch e.kind {
                case .directory: try await restoreDirectory(e, dirfd: dirfd, original: path, relative: rel, shown: sh, &group)
                case .file: try await restoreFile(e, dirfd: dirfd, directory: directory, relative: rel, shown: sh, &group)
                case .symlink: try await restoreSymlink(e, dirfd: dirfd, shown: sh)
                case .hardLink:
                    if restoredFiles.contains(e.linkTarget) {
                        try await drain(&group) { !$0.writingPaths.contains(e.linkTarget) }
                        try await restoreHardLink(e, dirfd: dirfd, shown: sh)
                    } else {
                        try await restoreFile(e, dirfd: dirfd, directory: directory, relative: rel, shown: sh, &group)
                    }
                }
            }
        }
    }

    /// Waits for writes to finish until `done` holds (or none is left); rethrows the first
    /// write's error.
    private func drain(_ group: inout Writes, until done: (FilesRestorer) -> Bool) async throws {
        while !done(self), let w = try await group.next() {
            writing -= 1
            writingPaths.remove(w.relative)
            if let n = writingIn[w.directory], n > 1 { writingIn[w.directory] = n - 1 } else { writingIn[w.directory] = nil }
        }
    }

    /// Counts the file and hands its write to the group (once fewer than `concurrency` run).
    private func restoreFile(_ e: FilesEntry, dirfd: Int32, directory: Int, relative: [UInt8], shown: [UInt8], _ group: inout Writes) async throws {
        report.files += 1
        report.bytes += e.size
        restoredFiles.insert(relative)
        if run.options.dryRun { return report.items.append(.init(path: shown, kind: .file, size: e.size)) }
        let width = max(1, run.options.concurrency)
        try await drain(&group) { $0.writing < width }
        writing += 1
        writingIn[directory, default: 0] += 1
        writingPaths.insert(relative)
        let (source, pool, owners) = (run.source, pool, run.options.restoreOwners)
        let display = FilesPath.join(Array(run.options.target.utf8), shown)
        let done = Written(directory: directory, relative: relative)
        group.addTask(operation: Self.writing(e, dirfd: dirfd, display: display, source: source, pool: pool, owners: owners, done: done))
    }

    private static func writing(_ e: FilesEntry, dirfd: Int32, display: [UInt8], source: any ChunkSource, pool: BlockingPool,
                                owners: Bool, done: Written) -> @Sendable () async throws -> Written {
        {
            try await write(e, dirfd: dirfd, display: display, source: source, pool: pool, owners: owners)
            return done
        }
    }

    /// One file: chunks written to a temporary name (O_EXCL, no symlink followed), then sized,
    /// owned, moded, timed, fsynced and renamed; on failure the temporary file is removed.
    private static func write(_ e: FilesEntry, dirfd: Int32, display: [UInt8], source: any ChunkSource, pool: BlockingPool,
                              owners: Bool) async throws {
        let temp = FilesRestoreCalls.temporaryName()
        let fd = try await pool.run("create file") { try FilesRestoreCalls.createFile(at: dirfd, temp, display: display) }
        var finishing = false
        do {
            var offset: UInt64 = 0
            for id in e.chunks {
                let bytes = try await source.chunk(id)
                let at = offset
                try await pool.run("write file") { try FilesRestoreCalls.write(fd, bytes, at: at, display: display) }
                offset += UInt64(bytes.count)
            }
            guard offset == e.size else {
                throw TidemarkError(.corrupt, "unable to restore '\(FilesPath.display(display))': its chunks hold \(offset) bytes, the snapshot says \(e.size)",
                                    hints: ["the snapshot is damaged; run 'tidemark verify' and restore from another snapshot"])
            }
            finishing = true
            try await pool.run("finish file") {
                // The fd is closed whatever happens here.
                defer { _ = close(fd) }
                try FilesRestoreCalls.finishFile(fd, e, owners: owners, display: display)
                try FilesRestoreCalls.rename(at: dirfd, temp, e.name, display: display)
            }
        } catch {
            let closeFD = !finishing
            _ = try? await pool.run("remove temporary file") {
                if closeFD { _ = close(fd) }
                FilesRestoreCalls.unlink(at: dirfd, temp)
            }
            throw error
        }
    }

    private func restoreSymlink(_ e: FilesEntry, dirfd: Int32, shown: [UInt8]) async throws {
        report.symlinks += 1
        if run.options.dryRun { return report.items.append(.init(path: shown, kind: .symlink, size: 0)) }
        let display = FilesPath.join(Array(run.options.target.utf8), shown)
        let temp = FilesRestoreCalls.temporaryName()
        let owners = run.options.restoreOwners
        try await pool.run("create symlink") {
            do {
                try FilesRestoreCalls.symlink(e.symlinkTarget, at: dirfd, temp, entry: e, owners: owners, display: display)
                try FilesRestoreCalls.rename(at: dirfd, temp, e.name, display: display)
            } catch {
                FilesRestoreCalls.unlink(at: dirfd, temp)
                throw error
            }
        }
    }

    private func restoreHardLink(_ e: FilesEntry, dirfd: Int32, shown: [UInt8]) async throws {
        report.hardLinks += 1
        if run.options.dryRun { return report.items.append(.init(path: shown, kind: .hardLink, size: e.size)) }
        let display = FilesPath.join(Array(run.options.target.utf8), shown)
        // The first name's directory, entered from `--to` without following a symlink.
        let top = rootShown
        let parts = FilesPath.components(e.linkTarget)
        guard let base = parts.last, parts.allSatisfy(FilesEntry.isSafeName), !top.isEmpty else {
            throw refused(shown, "the hard link's target is not a plain relative path")
        }
        let target = Array(run.options.target.utf8)
        let temp = FilesRestoreCalls.temporaryName()
        try await pool.run("create hard link") {
            var fd = try FilesRestoreCalls.openDirectory(target)
            defer { _ = close(fd) }
            for c in top + parts.dropLast() {
                let next = try FilesRestoreCalls.openDirectory(at: fd, c, create: false, display: display)
                close(fd)
                fd = next
            }
            do {
                try FilesRestoreCalls.link(from: fd, base, to: dirfd, temp, display: display)
                try FilesRestoreCalls.rename(at: dirfd, temp, e.name, display: display)
            } catch {
                FilesRestoreCalls.unlink(at: dirfd, temp)
                throw error
            }
        }
    }

    private func refused(_ shown: [UInt8], _ why: String) -> TidemarkError {
        TidemarkError(.corrupt, "refusing to restore '\(FilesPath.display(shown))' of snapshot \(run.snapshot.id): \(why)",
                      hints: ["the snapshot is damaged or crafted; nothing is written outside --to"])
    }

    /// The error of a restore that stopped: the cause, and what it left in `--to`.
    func failure(_ error: any Error) -> TidemarkError {
        let left = run.options.dryRun ? "nothing was written (dry run)"
            : "it left \(report.files) file(s), \(report.symlinks) symlink(s) and \(report.directories) directory(ies) in '\(run.options.target)' (the last may be incomplete; no temporary file is left); remove them or restore again into an empty directory"
        if let e = error as? TidemarkError {
            var out = TidemarkError(e.code, "unable to restore files to '\(run.options.target)': \(e.message)", hints: e.hints + [left], cause: e)
            out.unreachable = e.unreachable
            return out
        }
        if let e = error as? FilesOSError {
            let symlink = e.errno == ELOOP || e.errno == ENOTDIR
            return TidemarkError(symlink ? .invalidInput : .io, "unable to restore files to '\(run.options.target)': \(e)",
                                 hints: (symlink ? ["a symlink (or a file) stands where the snapshot has a directory; restore never follows symlinks: restore into an empty directory"] : []) + [left],
                                 cause: e)
        }
        return TidemarkError(.io, "unable to restore files to '\(run.options.target)': \(error)", hints: [left], cause: error)
    }
}
