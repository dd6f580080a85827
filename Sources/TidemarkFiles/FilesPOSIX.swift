#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore

/// A failed system call of the walk or of restore: the call, the path (bytes) and errno.
public struct FilesOSError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: [UInt8]
    public var errno: Int32
    public init(_ operation: String, _ path: [UInt8], _ errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }
    public var reason: String { String(cString: strerror(errno)) }
    public var description: String { "unable to \(operation) '\(FilesPath.display(path))': \(reason)" }
}

/// Paths as bytes: joining, display, and the C string a call takes.
public enum FilesPath {
    public static func join(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        if a.isEmpty { return b }
        if a.last == 0x2f { return a + b }
        return a + [0x2f] + b
    }

    /// A path for messages: valid UTF-8 as is; other bytes as `\xNN`; a newline as `\n`.
    public static func display(_ path: [UInt8]) -> String {
        if let s = String(validating: path, as: UTF8.self), !s.contains("\n") { return s }
        var out = ""
        var i = 0
        while i < path.count {
            let b = path[i]
            if b == 0x0a { out += "\\n" } else if b < 0x80, b >= 0x20 { out.unicodeScalars.append(Unicode.Scalar(b)) } else {
                out += "\\x" + String(b, radix: 16).uppercased().leftPadded(2)
            }
            i += 1
        }
        return out
    }

    public static func withCString<T>(_ path: [UInt8], _ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
        let terminated = path + [0]
        return try terminated.withUnsafeBufferPointer { buffer in
            try buffer.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
        }
    }

    /// The components of a "/"-separated path, empty ones dropped.
    public static func components(_ path: [UInt8]) -> [[UInt8]] {
        path.split(separator: 0x2f, omittingEmptySubsequences: true).map(Array.init)
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}

/// What `lstat` says about one path, in the fields a snapshot keeps.
public struct FilesStat: Sendable, Equatable {
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt64
    public var mtime: Int64
    public var ctime: Int64
    public var inode: UInt64
    public var device: UInt64
    public var links: UInt64

    init(_ st: stat) {
        mode = UInt32(st.st_mode)
        uid = UInt32(st.st_uid)
        gid = UInt32(st.st_gid)
        size = UInt64(max(0, st.st_size))
        mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        ctime = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
        inode = UInt64(st.st_ino)
        device = UInt64(st.st_dev)
        links = UInt64(st.st_nlink)
    }

    public var type: UInt32 { mode & UInt32(S_IFMT) }
    public var isRegular: Bool { type == UInt32(S_IFREG) }
    public var isDirectory: Bool { type == UInt32(S_IFDIR) }
    public var isSymlink: Bool { type == UInt32(S_IFLNK) }

    /// A word for a type the walk skips ("socket", "FIFO", …).
    public var typeName: String {
        switch type {
        case UInt32(S_IFSOCK): return "socket"
        case UInt32(S_IFIFO): return "FIFO"
        case UInt32(S_IFCHR): return "character device"
        case UInt32(S_IFBLK): return "block device"
        default: return "file of type \(String(type, radix: 8))"
        }
    }

    /// An entry with this stat's metadata.
    func entry(name: [UInt8], kind: FilesEntry.Kind) -> FilesEntry {
        FilesEntry(name: name, kind: kind, mode: mode, uid: uid, gid: gid, mtime: mtime, ctime: ctime,
                   size: kind == .directory || kind == .symlink ? 0 : size, inode: inode, device: device)
    }
}

/// Blocking wrappers of the calls the walk makes. Callers run them on `BlockingPool`.
enum FilesSystemCalls {
    static func lstat(_ path: [UInt8]) throws(FilesOSError) -> FilesStat {
        var st = stat()
        let rc = FilesPath.withCString(path) { Glibc.lstat($0, &st) }
        guard rc == 0 else { throw FilesOSError("lstat", path, errno) }
        return FilesStat(st)
    }

    static func fstat(_ fd: Int32, _ path: [UInt8]) throws(FilesOSError) -> FilesStat {
        var st = stat()
        guard Glibc.fstat(fd, &st) == 0 else { throw FilesOSError("fstat", path, errno) }
        return FilesStat(st)
    }

    /// The names in a directory (without `.` and `..`), unsorted.
    static func names(in path: [UInt8]) throws(FilesOSError) -> [[UInt8]] {
        guard let dir = FilesPath.withCString(path, { opendir($0) }) else { throw FilesOSError("open directory", path, errno) }
        defer { closedir(dir) }
        var out: [[UInt8]] = []
        while true {
            errno = 0
            guard let ent = readdir(dir) else {
                if errno != 0 { throw FilesOSError("read directory", path, errno) }
                return out
            }
            let name = withUnsafeBytes(of: &ent.pointee.d_name) { raw -> [UInt8] in
                let bytes = raw.bindMemory(to: UInt8.self)
                let n = bytes.firstIndex(of: 0) ?? bytes.count
                return Array(bytes[0..<n])
            }
            if name == [0x2e] || name == [0x2e, 0x2e] { continue }
            out.append(name)
        }
    }

    static func readlink(_ path: [UInt8]) throws(FilesOSError) -> [UInt8] {
        var size = 256
        while true {
            var buffer = [UInt8](repeating: 0, count: size)
            let n = FilesPath.withCString(path) { p in
                buffer.withUnsafeMutableBufferPointer { b in
                    b.withMemoryRebound(to: CChar.self) { Glibc.readlink(p, $0.baseAddress!, size) }
                }
            }
            guard n >= 0 else { throw FilesOSError("read symlink", path, errno) }
            if n < size { return Array(buffer[0..<n]) }
            size *= 4
            guard size <= 1 << 20 else { throw FilesOSError("read symlink", path, ENAMETOOLONG) }
        }
    }

    /// Opens a regular file for reading without following a symlink and without blocking on a
    /// FIFO that replaced it.
    static func openForReading(_ path: [UInt8]) throws(FilesOSError) -> Int32 {
        let fd = FilesPath.withCString(path) { open($0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        guard fd >= 0 else { throw FilesOSError("open", path, errno) }
        return fd
    }

    /// Up to `count` bytes at `offset`; fewer only at the end of the file.
    static func read(_ fd: Int32, at offset: UInt64, count: Int, _ path: [UInt8]) throws(FilesOSError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, count - filled, off_t(offset) + off_t(filled)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FilesOSError("read", path, errno)
            }
            if n == 0 { break }
            filled += n
        }
        out.removeSubrange(filled...)
        return out
    }
}
