#if canImport(Glibc)
import Glibc
#endif
import CTidemarkUnix
import TidemarkSystem

/// Watches `<data directory>/pg_wal/archive_status` for `.ready` files: inotify wakes it at
/// once when PostgreSQL marks a file ready, and a full scan runs anyway every
/// `rescanSeconds` (and after every wake-up), so a missed event costs at most that long. The
/// directory going away (a restore, a new cluster) is noticed and watched again when it is
/// back. It only reads the directory: nothing in pg_wal is ever renamed or removed.
///
/// The loop blocks (poll, read) on a thread of its own, never on Swift's cooperative pool.
final class ReadyWatcher: Sendable {
    let directory: String
    let control: String
    let rescanSeconds: Double
    private let stopped = Once()
    private let finished = Once()

    init(dataDirectory: String, rescanSeconds: Double) {
        directory = dataDirectory + "/pg_wal/archive_status"
        control = dataDirectory + "/global/pg_control"
        self.rescanSeconds = rescanSeconds
    }

    /// The names whose `.ready` file is there now (empty when the directory is missing).
    static func readyNames(in directory: String) -> Set<String> {
        Set(FileIO.listNames(directory).compactMap { $0.hasSuffix(".ready") ? String($0.dropLast(6)) : nil })
    }

    /// Starts the loop; `found` gets every complete scan; `gone` is called once when the data
    /// directory has had no global/pg_control for 5 s (it was removed: nothing left to
    /// archive). False when no thread could start.
    func start(_ found: @escaping @Sendable (Set<String>) -> Void, gone: @escaping @Sendable () -> Void) -> Bool {
        let directory = self.directory, rescan = self.rescanSeconds, control = self.control
        return startDetachedThread { [self] in
            nameCurrentThread("tidemark-ready-watch")
            var fd: Int32 = -1
            var watched: (UInt64, UInt64)?
            var nextScan = 0.0
            var missingSince: Double?
            while !stopped.isClaimed {
                var cst = stat()
                if stat(control, &cst) == 0 {
                    missingSince = nil
                } else if let since = missingSince {
                    if monotonicSeconds() - since >= 5 { gone(); break }
                } else {
                    missingSince = monotonicSeconds()
                }
                // (Re)arm the watch when the directory is new or came back.
                var st = stat()
                let identity = stat(directory, &st) == 0 ? (UInt64(st.st_dev), UInt64(st.st_ino)) : nil
                if identity == nil || identity.map({ $0 != (watched ?? (0, 0)) }) == true {
                    if fd >= 0 { close(fd); fd = -1 }
                    watched = nil
                    if identity != nil {
                        let opened = tidemark_inotify_watch(directory)
                        if opened >= 0 { fd = opened; watched = identity }
                    }
                    nextScan = 0
                }
                let now = monotonicSeconds()
                if now >= nextScan {
                    found(Self.readyNames(in: directory))
                    nextScan = now + rescan
                }
                // Wait for an event, the next scan, or 200 ms (to notice stop()).
                let wait = max(1, min(200, Int32((nextScan - monotonicSeconds()) * 1000)))
                if fd >= 0 {
                    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    if poll(&p, 1, wait) > 0 {
                        let gone = tidemark_inotify_drain(fd)
                        if gone != 0 { close(fd); fd = -1; watched = nil }
                        nextScan = 0
                    }
                } else {
                    usleep(UInt32(wait) * 1000)
                }
            }
            if fd >= 0 { close(fd) }
            _ = finished.claim()
        }
    }

    /// Ends the loop within about 200 ms. Idempotent.
    func stop() { _ = stopped.claim() }
}
