#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore
import TidemarkSystem

/// An flock(2) on a file in the service's state directory: the one job of a stanza that runs
/// on this host at a time (`serve` and `run-job` alike), and the state file's writers.
///
/// A process that dies releases it with its descriptors, so there is nothing stale to clean up.
/// Across hosts the repository's stanza lock (the lease) still guards what changes a repository.
final class LocalLock: @unchecked Sendable {
    // The descriptor is opened and closed by the one task holding the lock.
    let path: String
    private var fd: Int32 = -1

    init(path: String) { self.path = path }

    deinit { release() }

    /// Takes the lock without waiting; false when another process holds it.
    func tryAcquire() throws -> Bool {
        if fd < 0 {
            try FileIO.createDirectoryPath(FileIO.parent(path))
            fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                let e = errno
                throw TidemarkError(.io, "unable to open the lock file '\(path)': \(String(cString: strerror(e)))",
                                    hints: ["the service's state directory must be writable by this user (serve.stateDirectory)"])
            }
        }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
        if errno == EWOULDBLOCK { return false }
        let e = errno
        throw TidemarkError(.io, "unable to lock '\(path)': \(String(cString: strerror(e)))")
    }

    /// Waits (polling, never blocking a thread) until the lock is taken or `deadline` passes.
    func acquire(until deadline: ContinuousClock.Instant) async throws -> Bool {
        var interval = Duration.milliseconds(50)
        while true {
            if try tryAcquire() { return true }
            if ContinuousClock.now >= deadline { return false }
            try await Task.sleep(for: min(interval, deadline - ContinuousClock.now))
            interval = min(interval * 2, .seconds(2))
        }
    }

    /// Takes the lock, waiting on a pool thread (for short critical sections such as the state file).
    func acquireBlocking() async throws {
        if try tryAcquire() { return }
        let descriptor = fd
        let status = try await BlockingPool.shared.run("lock \(path)") { flock(descriptor, LOCK_EX) == 0 ? 0 : errno }
        if status != 0 {
            throw TidemarkError(.io, "unable to lock '\(path)': \(String(cString: strerror(status)))")
        }
    }

    func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }
}
