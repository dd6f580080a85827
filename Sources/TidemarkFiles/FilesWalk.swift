#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore
import TidemarkSystem

/// The directory walk of one `FilesBackupRun`: one directory at a time, depth first; within a
/// directory, files are read `parallelReads` at once. Names are taken in byte order, files of
/// a directory before its subdirectories — the order restore writes in, so a hard link always
/// names a path written before it.
final class FilesWalk {
    private let run: FilesBackupRun
    private let excludes: FilesExcludes
    private let reader: FilesFileReader
    private(set) var tally = FilesTally()
    /// (device, inode) of files with several names → the first name's relative path.
    private var firstNames: [FilesInodeKey: [UInt8]] = [:]
    /// Their content once read (chunks, size).
    private var linkedContent: [FilesInodeKey: FilesEntry] = [:]

    init(run: FilesBackupRun) {
        self.run = run
        self.excludes = FilesExcludes(run.options.exclude)
        self.reader = FilesFileReader(sink: run.sink, chunking: run.chunking, pool: run.pool,
                                      blockSize: run.options.blockSize, hooks: run.hooks)
    }

    /// The root entry of one configured path (named by it), or nil (counted unreadable) when it
    /// is missing, not a directory or cannot be listed.
    func backupRoot(_ path: [UInt8], parentRoot: FilesEntry?) async throws -> FilesEntry? {
        firstNames = [:]
        linkedContent = [:]
        let st: FilesStat
        do {
            st = try await run.pool.run("stat \(FilesPath.display(path))") { try FilesSystemCalls.lstat(path) }
        } catch let e as FilesOSError {
            tally.noteUnreadable(path, e.reason)
            return nil
        }
        guard st.isDirectory else {
            tally.noteUnreadable(path, "not a directory")
            return nil
        }
        guard let subtree = try await backupDirectory(path, relative: [], device: st.device, parent: try await parentTree(parentRoot)) else {
            return nil
        }
        var entry = st.entry(name: path, kind: .directory)
        entry.subtree = subtree
        tally.counts.directories += 1
        return entry
    }

    private func parentTree(_ entry: FilesEntry?) async throws -> FilesTree? {
        guard let entry, entry.kind == .directory, let id = entry.subtree, let source = run.source else { return nil }
        return try FilesTree.decode(try await source.chunk(id), what: "directory tree \(id) of snapshot \(run.parent?.id ?? "?")")
    }

    private struct Listed: Sendable {
        var name: [UInt8]
        var stat: FilesStat?
        var symlinkTarget: [UInt8] = []
        var error: String?
    }

    /// Stores the tree of the directory at `path` and its subtrees; its chunk id, nil when it
    /// cannot be listed (counted unreadable).
    private func backupDirectory(_ path: [UInt8], relative: [UInt8], device: UInt64, parent: FilesTree?) async throws -> ChunkID? {
        let listed: [Listed]
        do {
            listed = try await run.pool.run("list \(FilesPath.display(path))") { () throws -> [Listed] in
                try FilesSystemCalls.names(in: path).map { name in
                    let child = FilesPath.join(path, name)
                    do {
                        let st = try FilesSystemCalls.lstat(child)
                        return Listed(name: name, stat: st, symlinkTarget: st.isSymlink ? try FilesSystemCalls.readlink(child) : [])
                    } catch let e as FilesOSError {
                        return Listed(name: name, stat: nil, error: e.errno == ENOENT ? "vanished before it was read" : e.reason)
                    }
                }
            }
        } catch let e as FilesOSError {
            tally.noteUnreadable(path, e.reason)
            return nil
        }
        var entries: [FilesEntry] = []
        var toRead: [(index: Int, name: [UInt8], stat: FilesStat)] = []
        var pendingLinks: [(index: Int, key: FilesInodeKey, stat: FilesStat)] = []
        var subdirectories: [(name: [UInt8], stat: FilesStat)] = []
        for item in listed.sorted(by: { $0.name.lexicographicallyPrecedes($1.name) }) {
            let rel = FilesPath.join(relative, item.name)
            let full = FilesPath.join(path, item.name)
            guard let st = item.stat else {
                tally.noteUnreadable(full, item.error ?? "unreadable")
                continue
            }
            if excludes.excludes(relativePath: rel, isDirectory: st.isDirectory) { continue }
            if st.isDirectory {
                if run.options.oneFileSystem, st.device != device {
                    tally.noteSkipped(full, "on another file system")
                } else {
                    subdirectories.append((item.name, st))
                }
            } else if st.isSymlink {
                var e = st.entry(name: item.name, kind: .symlink)
                e.symlinkTarget = item.symlinkTarget
                entries.append(e)
                tally.counts.symlinks += 1
            } else if st.isRegular {
                let key = FilesInodeKey(device: st.device, inode: st.inode)
                if st.links > 1, let first = firstNames[key] {
                    var e = st.entry(name: item.name, kind: .hardLink)
                    e.linkTarget = first
                    pendingLinks.append((entries.count, key, st))
                    entries.append(e)
                    continue
                }
                if st.links > 1 { firstNames[key] = rel }
                toRead.append((entries.count, item.name, st))
                entries.append(st.entry(name: item.name, kind: .file))
            } else {
                tally.noteSkipped(full, st.typeName)
            }
        }
        var unreadable = Set<Int>()
        try await readFiles(toRead, into: &entries, unreadable: &unreadable, path: path, relative: relative, parent: parent)
        for link in pendingLinks {
            if let content = linkedContent[link.key] {
                entries[link.index].chunks = content.chunks
                entries[link.index].size = content.size
                entries[link.index].changing = content.changing
            } else {
                // Its first name could not be read: read this name as a file of its own.
                var e = link.stat.entry(name: entries[link.index].name, kind: .file)
                e.chunks = []
                entries[link.index] = e
                firstNames[link.key] = FilesPath.join(relative, e.name)
                try await readFiles([(link.index, e.name, link.stat)], into: &entries, unreadable: &unreadable, path: path,
                                    relative: relative, parent: parent)
            }
        }
        for sub in subdirectories {
            let full = FilesPath.join(path, sub.name)
            let parentSub = try await parentTree(parent?.entry(named: sub.name))
            guard let id = try await backupDirectory(full, relative: FilesPath.join(relative, sub.name), device: device, parent: parentSub) else {
                continue
            }
            var e = sub.stat.entry(name: sub.name, kind: .directory)
            e.subtree = id
            entries.append(e)
            tally.counts.directories += 1
        }
        let kept = entries.enumerated().filter { !unreadable.contains($0.offset) }.map(\.element)
        return try await store(FilesTree(entries: kept))
    }

    /// Reads (or, in an incremental, reuses) the files `items`, filling their entries.
    private func readFiles(_ items: [(index: Int, name: [UInt8], stat: FilesStat)], into entries: inout [FilesEntry],
                           unreadable: inout Set<Int>, path: [UInt8], relative: [UInt8], parent: FilesTree?) async throws {
        let reader = self.reader
        let jobs = items.map { item in
            (item.index, item.name, item.stat, parent?.entry(named: item.name))
        }
        let outcomes = try await boundedMap(jobs, width: run.options.parallelReads) { job -> (Int, FilesFileOutcome) in
            let (index, name, st, previous) = job
            if let previous, FilesWalk.unchanged(previous, st) {
                var e = st.entry(name: name, kind: .file)
                e.chunks = previous.chunks
                return (index, .stored(e, readBytes: 0, newBytes: 0))
            }
            let outcome = try await reader.read(path: FilesPath.join(path, name), relativePath: FilesPath.join(relative, name),
                                                name: name, listed: st)
            return (index, outcome)
        }
        for (index, outcome) in outcomes {
            let full = FilesPath.join(path, entries[index].name)
            switch outcome {
            case .unreadable(let reason):
                tally.noteUnreadable(full, reason)
                unreadable.insert(index)
            case .stored(let e, let readBytes, let newBytes):
                entries[index] = e
                tally.counts.files += 1
                tally.counts.bytes += e.size
                tally.counts.readBytes += readBytes
                tally.counts.newBytes += newBytes
                if e.changing { tally.noteChanging(full) }
                let key = FilesInodeKey(device: e.device, inode: e.inode)
                if firstNames[key] != nil { linkedContent[key] = e }
            }
        }
    }

    /// The incremental's rule: same size, mtime, ctime and inode, and not flagged as changing.
    static func unchanged(_ previous: FilesEntry, _ st: FilesStat) -> Bool {
        (previous.kind == .file || previous.kind == .hardLink) && !previous.changing && previous.size == st.size
            && previous.mtime == st.mtime && previous.ctime == st.ctime && previous.inode == st.inode
    }

    private func store(_ tree: FilesTree) async throws -> ChunkID {
        let bytes = tree.encoded()
        let id = run.sink.id(of: bytes)
        if try await !run.sink.contains(id) {
            try await run.sink.put(id, bytes: bytes, compressible: true)
            tally.counts.newBytes += UInt64(bytes.count)
        }
        return id
    }
}

struct FilesInodeKey: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64
}
