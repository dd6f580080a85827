#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore

/// Blocking calls of restore, every one relative to a directory fd and never following a
/// symlink: each directory is opened with `O_NOFOLLOW | O_DIRECTORY` from its parent's fd, so
/// a symlink in the target — one that was there or one this restore created — is refused,
/// never traversed. Callers run them on `BlockingPool`.
enum FilesRestoreCalls {
    static let temporaryPrefix: [UInt8] = Array(".tidemark-restore-".utf8)

    static func openDirectory(_ path: [UInt8]) throws(FilesOSError) -> Int32 {
        let fd = FilesPath.withCString(path) { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw FilesOSError("open directory", path, errno) }
        return fd
    }

    /// Opens `name` below `dirfd` as a directory, creating it (0700) when `create` and it is
    /// missing. A symlink there fails (ELOOP or ENOTDIR), whatever it points at.
    static func openDirectory(at dirfd: Int32, _ name: [UInt8], create: Bool, display: [UInt8]) throws(FilesOSError) -> Int32 {
        if create {
            let rc = FilesPath.withCString(name) { mkdirat(dirfd, $0, 0o700) }
            if rc != 0, errno != EEXIST { throw FilesOSError("create directory", display, errno) }
        }
        let fd = FilesPath.withCString(name) { openat(dirfd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else {
            let e = errno
            throw FilesOSError(e == ELOOP || e == ENOTDIR ? "enter directory (it is a symlink or not a directory; restore never follows one)" : "open directory",
                               display, e)
        }
        return fd
    }

    /// Whether the directory at `path` has entries; nil when it does not exist.
    static func isNonEmptyDirectory(_ path: [UInt8]) throws(FilesOSError) -> Bool? {
        do {
            return try !FilesSystemCalls.names(in: path).isEmpty
        } catch {
            if error.errno == ENOENT { return nil }
            throw error
        }
    }

    /// Creates `path` and its missing parents (0700).
    static func makeDirectories(_ path: [UInt8]) throws(FilesOSError) {
        var current: [UInt8] = path.first == 0x2f ? [0x2f] : []
        for c in FilesPath.components(path) {
            current = FilesPath.join(current, c)
            let rc = FilesPath.withCString(current) { mkdir($0, 0o700) }
            if rc != 0, errno != EEXIST { throw FilesOSError("create directory", current, errno) }
        }
    }

    static func temporaryName() -> [UInt8] {
        temporaryPrefix + Array(String(UInt64.random(in: 0...UInt64.max), radix: 16).utf8)
    }

    static func createFile(at dirfd: Int32, _ name: [UInt8], display: [UInt8]) throws(FilesOSError) -> Int32 {
        let fd = FilesPath.withCString(name) { openat(dirfd, $0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw FilesOSError("create", display, errno) }
        return fd
    }

    /// Writes `bytes` at `offset`; a run of zeros is left as a hole (the file is sized by
    /// `ftruncate` at the end), so a sparse file restores sparse.
    static func write(_ fd: Int32, _ bytes: [UInt8], at offset: UInt64, display: [UInt8]) throws(FilesOSError) {
        if bytes.allSatisfy({ $0 == 0 }) { return }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FilesOSError("write", display, errno)
            }
            done += n
        }
    }

    /// Sizes, owns, modes, times and fsyncs a written file (owner first: chown clears set-id bits).
    static func finishFile(_ fd: Int32, _ entry: FilesEntry, owners: Bool, display: [UInt8]) throws(FilesOSError) {
        guard ftruncate(fd, off_t(entry.size)) == 0 else { throw FilesOSError("size", display, errno) }
        try setMetadata(fd, entry, owners: owners, display: display)
        guard fsync(fd) == 0 else { throw FilesOSError("fsync", display, errno) }
    }

    /// A restored directory: its metadata (when given), then fsync, so the entries renamed
    /// into it are durable.
    static func finishDirectory(_ fd: Int32, _ entry: FilesEntry?, owners: Bool, display: [UInt8]) throws(FilesOSError) {
        if let entry { try setMetadata(fd, entry, owners: owners, display: display) }
        try syncDirectory(fd, display: display)
    }

    static func syncDirectory(_ fd: Int32, display: [UInt8]) throws(FilesOSError) {
        guard fsync(fd) == 0 else { throw FilesOSError("fsync", display, errno) }
    }

    static func setMetadata(_ fd: Int32, _ entry: FilesEntry, owners: Bool, display: [UInt8]) throws(FilesOSError) {
        if owners, fchown(fd, entry.uid, entry.gid) != 0 { throw FilesOSError("change the owner of", display, errno) }
        guard fchmod(fd, mode_t(entry.permissions)) == 0 else { throw FilesOSError("change the mode of", display, errno) }
        var times = [timespec(entry.mtime), timespec(entry.mtime)]
        guard futimens(fd, &times) == 0 else { throw FilesOSError("set the times of", display, errno) }
    }

    static func symlink(_ target: [UInt8], at dirfd: Int32, _ name: [UInt8], entry: FilesEntry, owners: Bool, display: [UInt8]) throws(FilesOSError) {
        let rc = FilesPath.withCString(target) { t in FilesPath.withCString(name) { symlinkat(t, dirfd, $0) } }
        guard rc == 0 else { throw FilesOSError("create symlink", display, errno) }
        if owners {
            let rc = FilesPath.withCString(name) { fchownat(dirfd, $0, entry.uid, entry.gid, AT_SYMLINK_NOFOLLOW) }
            guard rc == 0 else { throw FilesOSError("change the owner of", display, errno) }
        }
        var times = [timespec(entry.mtime), timespec(entry.mtime)]
        let t = FilesPath.withCString(name) { utimensat(dirfd, $0, &times, AT_SYMLINK_NOFOLLOW) }
        guard t == 0 else { throw FilesOSError("set the times of", display, errno) }
    }

    static func link(from sourceDir: Int32, _ sourceName: [UInt8], to dirfd: Int32, _ name: [UInt8], display: [UInt8]) throws(FilesOSError) {
        let rc = FilesPath.withCString(sourceName) { s in FilesPath.withCString(name) { linkat(sourceDir, s, dirfd, $0, 0) } }
        guard rc == 0 else { throw FilesOSError("create hard link", display, errno) }
    }

    /// Renames `from` to `to` in one directory: replaces a file or symlink named `to` (the
    /// symlink itself, not what it points at); fails on a directory.
    static func rename(at dirfd: Int32, _ from: [UInt8], _ to: [UInt8], display: [UInt8]) throws(FilesOSError) {
        let rc = FilesPath.withCString(from) { f in FilesPath.withCString(to) { renameat(dirfd, f, dirfd, $0) } }
        guard rc == 0 else { throw FilesOSError("rename into place", display, errno) }
    }

    static func unlink(at dirfd: Int32, _ name: [UInt8]) {
        _ = FilesPath.withCString(name) { unlinkat(dirfd, $0, 0) }
    }
}

private func timespec(_ ns: Int64) -> timespec {
    let sec = ns >= 0 ? ns / 1_000_000_000 : (ns - 999_999_999) / 1_000_000_000
    return Glibc.timespec(tv_sec: Int(sec), tv_nsec: Int(ns - sec * 1_000_000_000))
}
