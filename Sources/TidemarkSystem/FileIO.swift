#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore

/// Thin, blocking wrappers over POSIX file calls with errors that name the path.
/// Callers run them through `withDeadline`.
public enum FileIO {
    public struct Entry: Sendable {
        public var name: String
        public var isDirectory: Bool
        public var isRegular: Bool
        public var size: Int64
    }

    public static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    public static func basename(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// nil when the file does not exist.
    public static func openForReading(_ path: String) throws(StorageError) -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw StorageError(errno: errno, operation: "open", path: path)
        }
        return fd
    }

    /// Up to `count` bytes from `fd` (fewer at the end of the file). The buffer is not zeroed
    /// first: a large `count` costs no page faults beyond the bytes that arrive.
    public static func read(fd: Int32, upTo count: Int, path: String) throws(StorageError) -> [UInt8] {
        var failure: Int32 = 0
        let out = [UInt8](unsafeUninitializedCapacity: max(count, 0)) { buffer, filled in
            filled = 0
            guard let base = buffer.baseAddress else { return }
            while filled < count {
                let n = Glibc.read(fd, base + filled, count - filled)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                if n == 0 { break }
                filled += n
            }
        }
        if failure != 0 { throw StorageError(errno: failure, operation: "read", path: path) }
        return out
    }

    /// The whole file, nil when it does not exist. Reads the size `fstat` gives, then on until
    /// the end (a file that grew meanwhile), in chunks from 64 KiB up to 1 MiB.
    public static func readAll(_ path: String) throws(StorageError) -> [UInt8]? {
        guard let fd = try openForReading(path) else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw StorageError(errno: errno, operation: "stat", path: path) }
        var out = try read(fd: fd, upTo: Int(st.st_size), path: path)
        var chunk = 64 << 10
        while true {
            let more = try read(fd: fd, upTo: chunk, path: path)
            if more.isEmpty { break }
            out += more
            chunk = min(chunk * 2, 1 << 20)
        }
        return out
    }

    public static func readRange(_ path: String, _ range: Range<Int64>) throws(StorageError) -> [UInt8]? {
        guard let fd = try openForReading(path) else { return nil }
        defer { close(fd) }
        guard lseek(fd, off_t(range.lowerBound), SEEK_SET) >= 0 else { throw StorageError(errno: errno, operation: "seek", path: path) }
        return try read(fd: fd, upTo: Int(range.upperBound - range.lowerBound), path: path)
    }

    public static func size(_ path: String) throws(StorageError) -> Int64? {
        var st = stat()
        if stat(path, &st) != 0 {
            if errno == ENOENT { return nil }
            throw StorageError(errno: errno, operation: "stat", path: path)
        }
        return Int64(st.st_size)
    }

    public static func listDirectory(_ path: String) throws(StorageError) -> [Entry] {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return [] }
            throw StorageError(errno: errno, operation: "list", path: path)
        }
        defer { closedir(dir) }
        var entries: [Entry] = []
        while let ent = readdir(dir) {
            let name = entryName(ent)
            if name == "." || name == ".." { continue }
            var st = stat()
            guard lstat(path + "/" + name, &st) == 0 else { continue }
            let type = st.st_mode & S_IFMT
            entries.append(Entry(name: name, isDirectory: type == S_IFDIR, isRegular: type == S_IFREG, size: Int64(st.st_size)))
        }
        return entries
    }

    /// The names in a directory (not "." and ".."), without a stat of each; [] when it does
    /// not exist or cannot be read.
    package static func listNames(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let ent = readdir(dir) {
            let name = entryName(ent)
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The NUL-terminated name of a `readdir` entry, read in place. A `dirent` is only
    /// `d_reclen` bytes long, so copying the struct (and its 256-byte `d_name`) can read past
    /// the end of the kernel's buffer — a crash when that buffer ends at an unmapped page.
    package static func entryName(_ ent: UnsafeMutablePointer<dirent>) -> String {
        let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name) ?? 19
        return String(cString: UnsafeRawPointer(ent).advanced(by: offset).assumingMemoryBound(to: CChar.self))
    }

    /// Removes a directory and everything in it (dot files included); a missing one is fine.
    public static func removeTree(_ path: String) throws(StorageError) {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw StorageError(errno: errno, operation: "stat", path: path)
        }
        if st.st_mode & S_IFMT == S_IFDIR {
            for entry in try listDirectory(path) { try removeTree(path + "/" + entry.name) }
            if rmdir(path) != 0 && errno != ENOENT { throw StorageError(errno: errno, operation: "remove directory", path: path) }
        } else if unlink(path) != 0 && errno != ENOENT {
            throw StorageError(errno: errno, operation: "remove", path: path)
        }
    }

    public static func fsyncDirectory(_ path: String) throws(StorageError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError(errno: errno, operation: "open directory", path: path) }
        defer { close(fd) }
        if fsync(fd) != 0 && errno != EINVAL { throw StorageError(errno: errno, operation: "fsync directory", path: path) }
    }

    /// Creates every missing component of absolute `path`: parents 0755 (like mkdir -p), the
    /// last one 0700. An existing last component is left as it is.
    public static func createDirectoryPath(_ path: String) throws(StorageError) {
        var current = ""
        let parts = path.split(separator: "/")
        for (i, part) in parts.enumerated() {
            current += "/" + part
            var st = stat()
            if stat(current, &st) == 0 { continue }
            if mkdir(current, i == parts.count - 1 ? 0o700 : 0o755) != 0 && errno != EEXIST {
                throw StorageError(errno: errno, operation: "create directory", path: current)
            }
        }
    }

    /// Creates `path` and missing parents below `root` with mode 0700, fsyncing each parent
    /// whose entry was added. `root` itself must exist.
    public static func makeDirectories(_ path: String, below root: String) throws(StorageError) {
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else { throw StorageError(.notADirectory, key: path, message: "unable to use '\(path)': not a directory") }
            return
        }
        guard path.count > root.count, path.hasPrefix(root) else {
            throw StorageError(errno: ENOENT, operation: "open directory", path: path)
        }
        try makeDirectories(parent(path), below: root)
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw StorageError(errno: errno, operation: "create directory", path: path)
        }
        try fsyncDirectory(parent(path))
    }

    /// A temporary file beside its final path, published atomically by `commit`.
    public final class TempFile: @unchecked Sendable {
        // One writer at a time; `fd` is only touched by that writer.
        public let finalPath: String
        public let tempPath: String
        package var fd: Int32
        package var finished = false

        package init(finalPath: String, tempPath: String, fd: Int32) {
            self.finalPath = finalPath
            self.tempPath = tempPath
            self.fd = fd
        }

        public static func create(finalPath: String, root: String) throws(StorageError) -> TempFile {
            let dir = parent(finalPath)
            try makeDirectories(dir, below: root)
            let name = basename(finalPath)
            removeStaleTemps(in: dir, for: name)
            let random = UInt32.random(in: 0...UInt32.max)
            let temp = "\(dir)/.tmp.\(name).\(getpid()).\(String(random, radix: 16))"
            let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw StorageError(errno: errno, operation: "create", path: temp) }
            return TempFile(finalPath: finalPath, tempPath: temp, fd: fd)
        }

        public func write(_ bytes: [UInt8]) throws(StorageError) {
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
                if n < 0 {
                    if errno == EINTR { continue }
                    let e = errno
                    discard()
                    throw StorageError(errno: e, operation: "write", path: finalPath)
                }
                offset += n
            }
        }

        /// fsync, publish, fsync the directory.
        public func commit(ifAbsent: Bool) throws(StorageError) -> PutOutcome {
            if fsync(fd) != 0 {
                let e = errno
                discard()
                throw StorageError(errno: e, operation: "fsync", path: finalPath)
            }
            close(fd)
            fd = -1
            defer { finished = true }
            let dir = parent(finalPath)
            if ifAbsent {
                var published = link(tempPath, finalPath) == 0
                var e = errno
                if !published && (e == EPERM || e == EOPNOTSUPP || e == ENOSYS || e == EXDEV) {
                    // File systems without hard links (some FUSE and SMB mounts): check, then
                    // rename. Two writers racing here could both publish; wal-push compares
                    // content afterwards, so a lost race is still caught.
                    var st = stat()
                    if stat(finalPath, &st) == 0 {
                        published = false
                        e = EEXIST
                    } else if rename(tempPath, finalPath) == 0 {
                        try fsyncDirectory(dir)
                        return .created
                    } else {
                        e = errno
                    }
                }
                unlink(tempPath)
                if published {
                    try fsyncDirectory(dir)
                    return .created
                }
                if e == EEXIST { return .alreadyExists }
                throw StorageError(errno: e, operation: "publish", path: finalPath)
            }
            if rename(tempPath, finalPath) != 0 {
                let e = errno
                unlink(tempPath)
                throw StorageError(errno: e, operation: "rename into place", path: finalPath)
            }
            try fsyncDirectory(dir)
            return .created
        }

        /// Removes the temporary file; safe to call more than once.
        public func discard() {
            if fd >= 0 {
                close(fd)
                fd = -1
            }
            if !finished {
                finished = true
                unlink(tempPath)
            }
        }

        deinit { discard() }

        /// Removes `.tmp.<name>.<pid>.*` files left by writers that no longer run.
        package static func removeStaleTemps(in dir: String, for name: String) {
            // Names only: a WAL directory holds up to 256 segments, and this runs on every push.
            let prefix = ".tmp.\(name)."
            for entry in listNames(dir) where entry.hasPrefix(prefix) {
                let rest = entry.dropFirst(prefix.count)
                guard let pidText = rest.split(separator: ".").first, let pid = Int32(pidText) else { continue }
                if kill(pid, 0) != 0 && errno == ESRCH {
                    unlink(dir + "/" + entry)
                }
            }
        }
    }
}
