#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore
import TidemarkSystem

/// The state of one `FilesRestoreRun`: the directory walk over the snapshot's trees, what was
/// written, and the relative paths of restored files (for hard links).
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

    init(run: FilesRestoreRun) {
        self.run = run
        self.filter = FilesRestoreFilter(run.options.paths)
    }

    func restoreAll(target: [UInt8]) async throws {
        if !run.options.dryRun {
            try await pool.run("create \(run.options.target)") { try FilesRestoreCalls.makeDirectories(target) }
        }
        for root in run.snapshot.roots {
            guard let entry = root.root, filter.decision(root.path) != .skip else { continue }
            let components = FilesPath.components(root.path)
            guard !components.isEmpty, components.allSatisfy(FilesEntry.isSafeName) else {
                throw refused(root.path, "the configured path is not an absolute path of plain names")
            }
            restoredFiles = []
            rootShown = components
            if run.options.dryRun {
                try await restoreDirectory(entry, dirfd: -1, original: root.path, relative: [], shown: Array(components.joined(separator: [0x2f])))
                continue
            }
            // The configured path's parents: plain directories (0700), entered without following.
            var fd = try await pool.run("open \(run.options.target)") { try FilesRestoreCalls.openDirectory(target) }
            var shown: [UInt8] = []
            for c in components.dropLast() {
                shown = FilesPath.join(shown, c)
                let (parent, display) = (fd, FilesPath.join(target, shown))
                defer { _ = close(parent) }
                fd = try await pool.run("create directory") {
                    try FilesRestoreCalls.openDirectory(at: parent, c, create: true, display: display)
                }
            }
            let parentFD = fd
            defer { _ = close(parentFD) }
            try await restoreDirectory(entry, dirfd: parentFD, original: root.path, relative: [], shown: FilesPath.join(shown, components[components.count - 1]))
        }
    }

    /// Creates (or enters) the directory `entry` inside `dirfd`, restores its tree, then sets its
    /// metadata. `original` is its path at backup time, `relative` below the configured path,
    /// `shown` below `--to`.
    private func restoreDirectory(_ entry: FilesEntry, dirfd: Int32, original: [UInt8], relative: [UInt8], shown: [UInt8]) async throws {
        guard let subtree = entry.subtree else { throw refused(shown, "the directory has no tree") }
        let tree = try FilesTree.decode(try await run.source.chunk(subtree), what: "directory tree \(subtree) ('\(FilesPath.display(original))')")
        let decision = filter.decision(original)
        let display = FilesPath.join(Array(run.options.target.utf8), shown)
        let name = Array(FilesPath.components(shown).last ?? [])
        report.directories += 1
        if run.options.dryRun {
            report.items.append(.init(path: shown, kind: .directory, size: 0))
            try await restoreEntries(tree, dirfd: -1, original: original, relative: relative, shown: shown, within: decision)
            return
        }
        let fd = try await pool.run("create directory") { try FilesRestoreCalls.openDirectory(at: dirfd, name, create: true, display: display) }
        defer { _ = close(fd) }
        try await restoreEntries(tree, dirfd: fd, original: original, relative: relative, shown: shown, within: decision)
        if decision == .include {
            let owners = run.options.restoreOwners
            try await pool.run("set metadata") { try FilesRestoreCalls.setMetadata(fd, entry, owners: owners, display: display) }
        }
    }

    private func restoreEntries(_ tree: FilesTree, dirfd: Int32, original: [UInt8], relative: [UInt8], shown: [UInt8],
                                within: FilesRestoreFilter.Decision) async throws {
        for e in tree.entries { guard FilesEntry.isSafeName(e.name) else { throw refused(FilesPath.join(shown, e.name), "the name is not a plain file name") } }
        // Files before subdirectories: the backup walk's order, so a hard link's target comes first.
        for pass in [false, true] {
            for e in tree.entries where (e.kind == .directory) == pass {
                let path = FilesPath.join(original, e.name)
                guard within == .include || filter.decision(path) != .skip else { continue }
                let rel = FilesPath.join(relative, e.name)
                let sh = FilesPath.join(shown, e.name)
                switch e.kind {
                case .directory: try await restoreDirectory(e, dirfd: dirfd, original: path, relative: rel, shown: sh)
                case .file: try await restoreFile(e, dirfd: dirfd, relative: rel, shown: sh)
                case .symlink: try await restoreSymlink(e, dirfd: dirfd, shown: sh)
                case .hardLink:
                    if restoredFiles.contains(e.linkTarget) {
                        try await restoreHardLink(e, dirfd: dirfd, shown: sh)
                    } else {
                        try await restoreFile(e, dirfd: dirfd, relative: rel, shown: sh)
                    }
                }
            }
        }
    }

    private func restoreFile(_ e: FilesEntry, dirfd: Int32, relative: [UInt8], shown: [UInt8]) async throws {
        report.files += 1
        report.bytes += e.size
        restoredFiles.insert(relative)
        if run.options.dryRun { return report.items.append(.init(path: shown, kind: .file, size: e.size)) }
        let display = FilesPath.join(Array(run.options.target.utf8), shown)
        let temp = FilesRestoreCalls.temporaryName()
        let fd = try await pool.run("create file") { try FilesRestoreCalls.createFile(at: dirfd, temp, display: display) }
        do {
            var offset: UInt64 = 0
            for id in e.chunks {
                let bytes = try await run.source.chunk(id)
                let at = offset
                try await pool.run("write file") { try FilesRestoreCalls.write(fd, bytes, at: at, display: display) }
                offset += UInt64(bytes.count)
            }
            guard offset == e.size else {
                throw TidemarkError(.corrupt, "unable to restore '\(FilesPath.display(display))': its chunks hold \(offset) bytes, the snapshot says \(e.size)",
                                    hints: ["the snapshot is damaged; run 'tidemark verify' and restore from another snapshot"])
            }
            let owners = run.options.restoreOwners
            try await pool.run("finish file") {
                defer { _ = close(fd) }
                try FilesRestoreCalls.finishFile(fd, e, owners: owners, display: display)
                try FilesRestoreCalls.rename(at: dirfd, temp, e.name, display: display)
            }
        } catch {
            _ = try? await pool.run("remove temporary file") {
                _ = close(fd)
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
