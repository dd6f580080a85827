#if canImport(Glibc)
import Glibc
#endif
import TidemarkSystem

/// An object store in a local directory (or any mounted file system).
///
/// Writes go to a temporary file in the target directory (`.tmp.<name>.<pid>.<random>`), are
/// fsynced, then published with `link(2)` (when the caller wants no replacement: fails with
/// EEXIST atomically) or `rename(2)`, and the directory is fsynced. A writer killed at any
/// moment leaves at most a temporary file, which listings ignore and later writes remove.
/// Files are created 0600 and directories 0700. Every call is bounded by `timeout` seconds.
public struct FileSystemStore: ObjectStore {
    public let root: String
    public let timeout: Double

    public init(root: String, timeout: Double = 60) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        self.timeout = timeout
    }

    public var location: String { root }

    /// `link(2)` refuses an existing name atomically; ranges are a seek and a read; a directory
    /// lists what was renamed or linked into it before the call returned. Two limits the store
    /// cannot see without I/O: on a file system without hard links (some FUSE and SMB mounts)
    /// `FileIO` falls back to check-then-rename, and a network file system shared between
    /// hosts may show another host's writes late (directory attribute caching).
    public var capabilities: StoreCapabilities { .strongest }

    func path(_ key: String) throws(StorageError) -> String {
        try ObjectKey.validate(key)
        return root + "/" + key
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        let p = try path(key)
        return try await withDeadline(seconds: timeout, key: p) { try FileIO.readAll(p) }
    }

    public func get(_ key: String, range: Range<Int64>) async throws -> [UInt8]? {
        let p = try path(key)
        return try await withDeadline(seconds: timeout, key: p) { try FileIO.readRange(p, range) }
    }

    public func get(_ keys: [String], range: Range<Int64>) async throws -> [[UInt8]?] {
        let paths = try keys.map { try path($0) }
        return try await withDeadline(seconds: timeout, key: paths.first ?? root) {
            try paths.map { try FileIO.readRange($0, range) }
        }
    }

    public func getRanges(_ requests: [(key: String, range: Range<Int64>)]) async throws -> [[UInt8]?] {
        let paths = try requests.map { (try path($0.key), $0.range) }
        return try await withDeadline(seconds: timeout, key: paths.first?.0 ?? root) {
            try paths.map { try FileIO.readRange($0.0, $0.1) }
        }
    }

    public func size(_ key: String) async throws -> Int64? {
        let p = try path(key)
        return try await withDeadline(seconds: timeout, key: p) { try FileIO.size(p) }
    }

    public func list(prefix: String) async throws -> ObjectListing {
        if !prefix.isEmpty {
            guard prefix.hasSuffix("/") else { throw StorageError(.invalidKey, key: prefix, message: "a listing prefix must end in /") }
            try ObjectKey.validate(String(prefix.dropLast()))
        }
        let dir = prefix.isEmpty ? root : root + "/" + String(prefix.dropLast())
        return try await withDeadline(seconds: timeout, key: dir) {
            var objects: [ObjectInfo] = []
            var prefixes: [String] = []
            for entry in try FileIO.listDirectory(dir) where !entry.name.hasPrefix(".") {
                if entry.isDirectory {
                    prefixes.append(prefix + entry.name + "/")
                } else if entry.isRegular {
                    objects.append(ObjectInfo(key: prefix + entry.name, size: entry.size))
                }
            }
            return ObjectListing(objects: objects.sorted { $0.key < $1.key }, prefixes: prefixes.sorted())
        }
    }

    public func put(_ key: String, bytes: [UInt8], ifAbsent: Bool) async throws -> PutOutcome {
        let writer = try await makeWriter(key)
        do {
            try await writer.write(bytes)
            return try await writer.commit(ifAbsent: ifAbsent)
        } catch {
            await writer.abort()
            throw error
        }
    }

    public func makeWriter(_ key: String) async throws -> any ObjectWriter {
        let p = try path(key)
        let root = self.root
        let file = try await withDeadline(seconds: timeout, key: p) { try FileIO.TempFile.create(finalPath: p, root: root) }
        return FileSystemWriter(file: file, timeout: timeout)
    }

    public func openReader(_ key: String) async throws -> (any ObjectReader)? {
        let p = try path(key)
        let fd = try await withDeadline(seconds: timeout, key: p) { try FileIO.openForReading(p) }
        guard let fd else { return nil }
        return FileSystemReader(fd: fd, path: p, timeout: timeout)
    }

    public func delete(_ key: String) async throws {
        let p = try path(key)
        try await withDeadline(seconds: timeout, key: p) {
            if unlink(p) != 0 {
                if errno == ENOENT { return }
                throw StorageError(errno: errno, operation: "remove", path: p)
            }
            try FileIO.fsyncDirectory(FileIO.parent(p))
        }
    }
}

extension FileSystemStore {
    public func removeAll(prefix: String) async throws {
        guard prefix.hasSuffix("/") else { throw StorageError(.invalidKey, key: prefix, message: "a prefix must end in /") }
        try ObjectKey.validate(String(prefix.dropLast()))
        let dir = root + "/" + String(prefix.dropLast())
        try await withDeadline(seconds: timeout, key: dir) {
            try FileIO.removeTree(dir)
            try FileIO.fsyncDirectory(FileIO.parent(dir))
        }
    }
}

extension FileSystemStore {
    /// Unlinks every key in parallel chunks (each chunk one pool thread and one deadline), then
    /// fsyncs each distinct parent directory once: thousands of objects a second instead of one
    /// directory fsync per object. Afterwards the parents that became empty are removed (and,
    /// when those leave their own parent empty, that one too) and the directories above them
    /// fsynced. Directory removal never goes above a key's second level (`<stanza>/wal/`,
    /// `<stanza>/backup/` stay) nor to the root: a writer that has just created its directory
    /// there (wal-push, which takes no lock) must not lose it. A directory still holding a file
    /// (a writer's temporary file, say) is left. Missing keys are not errors.
    public func deleteMany(_ keys: [String]) async throws {
        guard !keys.isEmpty else { return }
        let paths = try keys.map { try path($0) }
        let chunkSize = 512
        let chunks = stride(from: 0, to: paths.count, by: chunkSize).map { Array(paths[$0..<min($0 + chunkSize, paths.count)]) }
        try await forEachInParallel(chunks) { chunk in
            for p in chunk where unlink(p) != 0 && errno != ENOENT {
                throw StorageError(errno: errno, operation: "remove", path: p)
            }
        }
        var parents: [String] = []
        var seen = Set<String>()
        for p in paths where seen.insert(FileIO.parent(p)).inserted { parents.append(FileIO.parent(p)) }
        let parentChunks = stride(from: 0, to: parents.count, by: 64).map { Array(parents[$0..<min($0 + 64, parents.count)]) }
        try await forEachInParallel(parentChunks) { chunk in
            for dir in chunk {
                do throws(StorageError) {
                    try FileIO.fsyncDirectory(dir)
                } catch {
                    if error.errno != ENOENT { throw error }  // ENOENT: removed meanwhile by another deleter
                }
            }
        }
        let root = self.root
        let removable = parents.filter { Self.depth(of: $0, below: root) >= 3 }
        guard !removable.isEmpty else { return }
        try await withDeadline(seconds: timeout, key: removable[0]) {
            try Self.removeEmptyDirectories(removable, below: root)
        }
    }

    /// Components of `dir` below `root` (`root/a/b/c` → 3).
    static func depth(of dir: String, below root: String) -> Int {
        guard dir.hasPrefix(root + "/") else { return 0 }
        return dir.dropFirst(root.count + 1).split(separator: "/").count
    }

    /// Removes each of `dirs` that is empty, then each parent left empty (down to depth 3),
    /// deepest first, and fsyncs the directories that lost an entry.
    static func removeEmptyDirectories(_ dirs: [String], below root: String) throws(StorageError) {
        var level = Set(dirs)
        var touched = Set<String>()
        while !level.isEmpty {
            var next = Set<String>()
            for dir in level.sorted(by: { $0.count > $1.count }) {
                if rmdir(dir) != 0 {
                    if errno == ENOTEMPTY || errno == EEXIST || errno == ENOENT { continue }
                    throw StorageError(errno: errno, operation: "remove directory", path: dir)
                }
                let parent = FileIO.parent(dir)
                touched.insert(parent)
                if depth(of: parent, below: root) >= 3 { next.insert(parent) }
            }
            level = next
        }
        for dir in touched.sorted() {
            do throws(StorageError) {
                try FileIO.fsyncDirectory(dir)
            } catch {
                if error.errno != ENOENT { throw error }  // ENOENT: itself removed as empty, or by another deleter
            }
        }
    }

    /// Runs `work` on each item, up to 8 at a time on pool threads, each under the store's
    /// deadline; the first error cancels the rest.
    func forEachInParallel(_ items: [[String]], _ work: @escaping @Sendable ([String]) throws -> Void) async throws {
        let timeout = self.timeout
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func add() {
                let item = items[next]
                next += 1
                group.addTask { try await withDeadline(seconds: timeout, key: item.first ?? "") { try work(item) } }
            }
            while next < min(8, items.count) { add() }
            while try await group.next() != nil {
                if next < items.count { add() }
            }
        }
    }
}

final class FileSystemWriter: ObjectWriter, @unchecked Sendable {
    // Used by one task at a time, as ObjectWriter requires; the file does its own cleanup.
    let file: FileIO.TempFile
    let timeout: Double

    init(file: FileIO.TempFile, timeout: Double) {
        self.file = file
        self.timeout = timeout
    }

    func write(_ bytes: [UInt8]) async throws {
        let file = self.file
        try await withDeadline(seconds: timeout, key: file.finalPath) { try file.write(bytes) }
    }

    /// One deadline (and one I/O thread) for all the pieces, not one per piece.
    func write(contentsOf pieces: [[UInt8]]) async throws {
        let file = self.file
        try await withDeadline(seconds: timeout, key: file.finalPath) {
            for piece in pieces { try file.write(piece) }
        }
    }

    /// The last pieces, fsync and publish under one deadline, on one I/O thread.
    func commit(ifAbsent: Bool, afterWriting pieces: [[UInt8]]) async throws -> PutOutcome {
        let file = self.file
        return try await withDeadline(seconds: timeout, key: file.finalPath) {
            for piece in pieces { try file.write(piece) }
            return try file.commit(ifAbsent: ifAbsent)
        }
    }

    func commit(ifAbsent: Bool) async throws -> PutOutcome {
        let file = self.file
        return try await withDeadline(seconds: timeout, key: file.finalPath) { try file.commit(ifAbsent: ifAbsent) }
    }

    func abort() async {
        file.discard()
    }
}

final class FileSystemReader: ObjectReader, @unchecked Sendable {
    // Used by one task at a time, as ObjectReader requires.
    let fd: Int32
    let path: String
    let timeout: Double
    var closed = false

    init(fd: Int32, path: String, timeout: Double) {
        self.fd = fd
        self.path = path
        self.timeout = timeout
    }

    func read(upTo count: Int) async throws -> [UInt8] {
        let (fd, path) = (self.fd, self.path)
        return try await withDeadline(seconds: timeout, key: path) { try FileIO.read(fd: fd, upTo: count, path: path) }
    }

    func close() async {
        if !closed {
            closed = true
            _ = Glibc.close(fd)
        }
    }

    deinit {
        if !closed { _ = Glibc.close(fd) }
    }
}
