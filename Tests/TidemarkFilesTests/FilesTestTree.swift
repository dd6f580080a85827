#if canImport(Glibc)
import Glibc
#endif
import Testing
import TidemarkTesting
@testable import TidemarkFiles

/// Builds test trees with raw system calls (names as bytes) and compares two trees.
enum FilesTestTree {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func check(_ rc: Int32, _ what: String, _ path: [UInt8]) throws {
        if rc != 0 { throw Failure(description: "\(what) '\(FilesPath.display(path))': \(String(cString: strerror(errno)))") }
    }

    static func mkdir(_ path: [UInt8], mode: mode_t = 0o755) throws {
        try check(FilesPath.withCString(path) { Glibc.mkdir($0, mode) }, "mkdir", path)
    }

    static func write(_ path: [UInt8], _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        let fd = FilesPath.withCString(path) { open($0, O_WRONLY | O_CREAT | O_TRUNC, mode) }
        guard fd >= 0 else { throw Failure(description: "create '\(FilesPath.display(path))': \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, bytes.count) }
        guard n == bytes.count else { throw Failure(description: "write '\(FilesPath.display(path))'") }
        try check(fchmod(fd, mode), "chmod", path)
    }

    static func append(_ path: [UInt8], _ bytes: [UInt8]) {
        let fd = FilesPath.withCString(path) { open($0, O_WRONLY | O_APPEND) }
        guard fd >= 0 else { return }
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, bytes.count) }
        close(fd)
    }

    /// A file of `size` bytes with `data` at `offset` and holes elsewhere.
    static func sparse(_ path: [UInt8], size: Int, data: [UInt8], at offset: Int) throws {
        let fd = FilesPath.withCString(path) { open($0, O_WRONLY | O_CREAT | O_TRUNC, 0o600) }
        guard fd >= 0 else { throw Failure(description: "create sparse") }
        defer { close(fd) }
        try check(ftruncate(fd, off_t(size)), "truncate", path)
        _ = data.withUnsafeBytes { pwrite(fd, $0.baseAddress, data.count, off_t(offset)) }
    }

    static func symlink(_ target: [UInt8], _ path: [UInt8]) throws {
        try check(FilesPath.withCString(target) { t in FilesPath.withCString(path) { Glibc.symlink(t, $0) } }, "symlink", path)
    }

    static func link(_ existing: [UInt8], _ path: [UInt8]) throws {
        try check(FilesPath.withCString(existing) { t in FilesPath.withCString(path) { Glibc.link(t, $0) } }, "link", path)
    }

    static func setMtime(_ path: [UInt8], seconds: Int, nanoseconds: Int = 0) throws {
        var times = [timespec(tv_sec: seconds, tv_nsec: nanoseconds), timespec(tv_sec: seconds, tv_nsec: nanoseconds)]
        try check(FilesPath.withCString(path) { utimensat(AT_FDCWD, $0, &times, AT_SYMLINK_NOFOLLOW) }, "utimensat", path)
    }

    static func read(_ path: [UInt8]) throws -> [UInt8] {
        let fd = try FilesSystemCalls.openForReading(path)
        defer { close(fd) }
        var out: [UInt8] = []
        var offset: UInt64 = 0
        while true {
            let block = try FilesSystemCalls.read(fd, at: offset, count: 1 << 20, path)
            if block.isEmpty { return out }
            out += block
            offset += UInt64(block.count)
        }
    }

    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// Every difference between the trees at `a` and `b` (types, permission bits, mtimes,
    /// content, symlink targets, owners; hard links: names sharing an inode in `a` share one
    /// in `b`). Directory mtimes are compared too, except the two roots'.
    static func differences(_ a: [UInt8], _ b: [UInt8], compareRootTimes: Bool = false) throws -> [String] {
        var out: [String] = []
        var inodesA: [UInt64: [UInt8]] = [:]
        var inodeMap: [UInt64: UInt64] = [:]
        func walk(_ rel: [UInt8], isRoot: Bool) throws {
            let pa = rel.isEmpty ? a : FilesPath.join(a, rel)
            let pb = rel.isEmpty ? b : FilesPath.join(b, rel)
            let sa = try FilesSystemCalls.lstat(pa)
            let sb: FilesStat
            do { sb = try FilesSystemCalls.lstat(pb) } catch {
                out.append("missing \(FilesPath.display(rel))")
                return
            }
            let name = FilesPath.display(rel)
            if sa.type != sb.type { return out.append("type of \(name)") }
            if sa.mode != sb.mode { out.append("mode of \(name): \(String(sa.mode, radix: 8)) vs \(String(sb.mode, radix: 8))") }
            if sa.uid != sb.uid || sa.gid != sb.gid { out.append("owner of \(name)") }
            if (!isRoot || compareRootTimes), sa.mtime != sb.mtime { out.append("mtime of \(name): \(sa.mtime) vs \(sb.mtime)") }
            if sa.isRegular {
                if sa.size != sb.size { out.append("size of \(name)") }
                if try read(pa) != read(pb) { out.append("content of \(name)") }
                if sa.links > 1 {
                    if let first = inodesA[sa.inode] {
                        if inodeMap[sa.inode] != sb.inode { out.append("hard link \(name) is not linked to \(FilesPath.display(first))") }
                    } else {
                        inodesA[sa.inode] = rel
                        inodeMap[sa.inode] = sb.inode
                    }
                }
            } else if sa.isSymlink {
                if try FilesSystemCalls.readlink(pa) != FilesSystemCalls.readlink(pb) { out.append("target of \(name)") }
            } else if sa.isDirectory {
                let na = try FilesSystemCalls.names(in: pa).sorted { $0.lexicographicallyPrecedes($1) }
                let nb = try FilesSystemCalls.names(in: pb).sorted { $0.lexicographicallyPrecedes($1) }
                if na != nb { out.append("names in \(name): \(na.map(FilesPath.display)) vs \(nb.map(FilesPath.display))") }
                for n in na { try walk(FilesPath.join(rel, n), isRoot: false) }
            }
        }
        try walk([], isRoot: true)
        return out
    }
}
