#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore

/// A local WAL file, opened and mapped read-only, with errors phrased for the DBA.
///
/// The file is mapped rather than read: its pages are in the page cache (PostgreSQL just wrote
/// them), and copying 16 MiB into fresh memory costs more in page faults than all the
/// compression. Not MAP_POPULATE: the threads that hash and scan it (`PreparedWALFile`) fault
/// the pages in as they go, in parallel, instead of the command's main thread up front.
/// PostgreSQL never truncates a file it hands to archive_command, so the mapping stays valid
/// for the life of the command. Immutable once made, and the mapping is read-only, so threads
/// may share it.
package final class LocalFile: @unchecked Sendable {
    package let path: String
    package let size: Int64
    private let base: UnsafeMutableRawPointer?

    package init(path: String) throws {
        self.path = path
        // A FIFO (or a device) named like a segment must not hang the archiver: look at the
        // file type before opening, and open without blocking so that a FIFO put in its place
        // between the two is caught by the fstat below instead of waiting for a writer.
        var before = stat()
        if stat(path, &before) == 0, before.st_mode & S_IFMT != S_IFREG {
            throw Self.notRegular(path, mode: before.st_mode)
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            let e = errno
            switch e {
            case ENOENT:
                throw TidemarkError(.invalidInput, "unable to open WAL file '\(path)': no such file",
                                    hints: ["archive_command must pass %p (the path PostgreSQL gives), e.g. archive_command = 'tidemark wal-push %p'"])
            case EACCES:
                throw TidemarkError(.invalidInput, "unable to open WAL file '\(path)': permission denied",
                                    hints: ["run Tidemark as the PostgreSQL server user"])
            default:
                throw TidemarkError(.io, "unable to open '\(path)': \(String(cString: strerror(e)))")
            }
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw TidemarkError(.io, "unable to stat '\(path)': \(String(cString: strerror(errno)))")
        }
        guard st.st_mode & S_IFMT == S_IFREG else { throw Self.notRegular(path, mode: st.st_mode) }
        size = Int64(st.st_size)
        guard size > 0 else {
            base = nil
            return
        }
        let p = mmap(nil, Int(size), PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw TidemarkError(.io, "unable to map '\(path)': \(String(cString: strerror(errno)))")
        }
        base = p
    }

    package static func notRegular(_ path: String, mode: mode_t) -> TidemarkError {
        let kind: String
        switch mode & S_IFMT {
        case S_IFIFO: kind = "a FIFO (named pipe)"
        case S_IFDIR: kind = "a directory"
        case S_IFCHR: kind = "a character device"
        case S_IFBLK: kind = "a block device"
        case S_IFSOCK: kind = "a socket"
        default: kind = "a special file"
        }
        return TidemarkError(.invalidInput, "unable to archive '\(path)': it is \(kind), not a regular WAL file",
                             hints: ["archive_command must pass %p, the WAL file PostgreSQL names; nothing was archived"])
    }

    /// The whole file.
    package var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: Int(size)) }

    deinit {
        if let base { munmap(base, Int(size)) }
    }
}

/// A file written next to its destination and renamed over it only when complete.
package final class DestinationFile {
    package let destination: String
    package let temp: String
    package var fd: Int32
    package var done = false

    package init(destination: String) throws {
        self.destination = destination
        let dir = Self.parent(destination)
        let base = destination.split(separator: "/").last.map(String.init) ?? destination
        temp = "\(dir)/.\(base).tidemark-\(getpid()).tmp"
        unlink(temp)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let e = errno
            throw TidemarkError(e == ENOSPC ? .io : (e == EACCES || e == ENOENT ? .invalidInput : .io),
                                "unable to create '\(temp)': \(String(cString: strerror(e)))",
                                hints: e == ENOENT ? ["the destination directory '\(dir)' does not exist"] : [])
        }
        self.fd = fd
    }

    package static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    package func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                let e = errno
                throw TidemarkError(.io, "unable to write '\(temp)': \(String(cString: strerror(e)))",
                                    hints: e == ENOSPC ? ["the file system holding '\(destination)' is full"] : [])
            }
            offset += n
        }
    }

    /// fsync, rename over the destination, fsync the directory.
    package func commit() throws {
        guard fsync(fd) == 0 else { throw TidemarkError(.io, "unable to fsync '\(temp)': \(String(cString: strerror(errno)))") }
        close(fd)
        fd = -1
        guard rename(temp, destination) == 0 else {
            throw TidemarkError(.io, "unable to rename '\(temp)' to '\(destination)': \(String(cString: strerror(errno)))")
        }
        done = true
        let dfd = open(Self.parent(destination), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !done { unlink(temp) }
    }
}
