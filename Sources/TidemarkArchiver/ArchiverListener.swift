#if canImport(Glibc)
import Glibc
#endif
import CTidemarkUnix
import TidemarkCore
import TidemarkSystem

/// The archiver's socket (docs/archiver.md, "The socket"): a directory of its own (0700, owned
/// by the archiver's uid, refused otherwise), a lock file there that one archiver holds while
/// it runs (a second refuses to start), and the socket (0600). A socket file left by an
/// archiver that died is removed only after a connection to it fails; a peer of another uid
/// is refused at once (SO_PEERCRED).
///
/// Accepting blocks (poll, accept) on a thread of its own; each connection is handed to
/// `handle` and belongs to it.
final class ArchiverListener: Sendable {
    let socketPath: String
    private let fd: Int32
    private let lockFD: Int32
    private let socketIdentity: (UInt64, UInt64)?
    private let stopped = Once()
    private let closed = Once()
    private let accepting = Once()
    private let exited = Once()

    /// Prepares the directory, takes the lock, removes a stale socket and listens.
    init(settings: ArchiverSettings) throws {
        let directory = settings.directory
        try Self.prepareDirectory(directory)
        let lock = open(settings.lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard lock >= 0 else {
            throw TidemarkError(.io, "unable to open the archiver's lock file '\(settings.lockPath)': \(String(cString: strerror(errno)))")
        }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            Glibc.close(lock)
            throw TidemarkError(.busy, "another archiver is running for '\(settings.socketPath)'",
                                hints: ["it holds \(settings.lockPath); stop it first (or let it be: one archiver per data directory and stanza is enough)"])
        }
        // Holding the lock, any socket file there is stale, unless something else answers on it.
        if let probe = UnixConnection.connect(settings.socketPath) {
            probe.close()
            Glibc.close(lock)
            throw TidemarkError(.busy, "something already answers on the archiver socket '\(settings.socketPath)'",
                                hints: ["another process listens there without the archiver's lock; stop it or set archiver.socketPath"])
        }
        unlink(settings.socketPath)
        let listening = tidemark_unix_listen(settings.socketPath, 64)
        guard listening >= 0 else {
            Glibc.close(lock)
            let cause = String(cString: strerror(-listening))
            throw TidemarkError(.io, "unable to listen on the archiver socket '\(settings.socketPath)': \(cause)",
                                hints: listening == -ENAMETOOLONG ? ["a Unix socket path is at most \(tidemark_unix_path_max()) bytes: set a shorter archiver.socketPath"] : [])
        }
        chmod(settings.socketPath, 0o600)
        var st = stat()
        socketIdentity = lstat(settings.socketPath, &st) == 0 ? (UInt64(st.st_dev), UInt64(st.st_ino)) : nil
        socketPath = settings.socketPath
        fd = listening
        lockFD = lock
    }

    deinit { close() }

    /// Creates `directory` (0700) or checks that it is ours and closed to others.
    static func prepareDirectory(_ directory: String) throws {
        var st = stat()
        if lstat(directory, &st) != 0 {
            guard errno == ENOENT else {
                throw TidemarkError(.io, "unable to inspect the archiver's directory '\(directory)': \(String(cString: strerror(errno)))")
            }
            guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
                throw TidemarkError(.io, "unable to create the archiver's directory '\(directory)': \(String(cString: strerror(errno)))",
                                    hints: ["its parent must exist and be writable by this user, or set archiver.socketPath"])
            }
            guard lstat(directory, &st) == 0 else {
                throw TidemarkError(.io, "unable to inspect the archiver's directory '\(directory)': \(String(cString: strerror(errno)))")
            }
        }
        guard st.st_mode & S_IFMT == S_IFDIR, st.st_uid == geteuid() else {
            throw TidemarkError(.configuration, "the archiver's directory '\(directory)' is not a directory owned by this user (uid \(geteuid()))",
                                hints: ["remove it, or set archiver.socketPath to a place of this user's own"])
        }
        if st.st_mode & 0o077 != 0 { chmod(directory, 0o700) }
    }

    /// Accepts on a thread of its own until `close()`; each connection from this uid goes to
    /// `handle`, one from another uid is told so and closed. False when no thread could start.
    func start(_ handle: @escaping @Sendable (UnixConnection) -> Void) -> Bool {
        let fd = self.fd
        _ = accepting.claim()
        return startDetachedThread { [self] in
            defer { _ = exited.claim() }
            nameCurrentThread("tidemark-archiver-accept")
            let me = geteuid()
            while !stopped.isClaimed {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 200) > 0 else { continue }
                let client = tidemark_unix_accept(fd)
                guard client >= 0 else { continue }
                let connection = UnixConnection(fd: client)
                guard let uid = connection.peerUID(), uid == me else {
                    _ = connection.send(ArchiverProtocol.encode(ArchiverProtocol.Reply(.failed, reason: "refused: this archiver answers its own user only (uid \(me))")))
                    connection.close()
                    continue
                }
                handle(connection)
            }
        }
    }

    /// Stops accepting, removes the socket file (if it is still ours) and releases the lock.
    func close() {
        _ = stopped.claim()
        guard closed.claim() else { return }
        var there = stat()
        if let socketIdentity, lstat(socketPath, &there) == 0, (UInt64(there.st_dev), UInt64(there.st_ino)) == socketIdentity {
            unlink(socketPath)
        }
        // The accepting thread polls `fd`: it must be gone before the descriptor is closed.
        if accepting.isClaimed {
            let deadline = monotonicSeconds() + 2
            while !exited.isClaimed && monotonicSeconds() < deadline { usleep(5_000) }
        }
        Glibc.close(fd)
        Glibc.close(lockFD)
    }
}
