#if canImport(Glibc)
import Glibc
#endif
import CTidemarkUnix
import TidemarkCore
import TidemarkSystem

/// One connected Unix-socket descriptor and line-based reads with a deadline. Every call
/// blocks (poll, recv, send): callers run them on the `BlockingPool`, never on Swift's
/// cooperative threads. Closed once, by `close()` or deinit.
package final class UnixConnection: @unchecked Sendable {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private let closed = Once()

    package init(fd: Int32) { self.fd = fd }
    deinit { close() }

    /// Connects to `path`; nil when nobody listens there (or the path is not a socket).
    package static func connect(_ path: String) -> UnixConnection? {
        let fd = tidemark_unix_connect(path)
        return fd >= 0 ? UnixConnection(fd: fd) : nil
    }

    package func close() {
        if closed.claim() { _ = Glibc.close(fd) }
    }

    /// The peer's effective uid (SO_PEERCRED).
    package func peerUID() -> UInt32? {
        var uid: UInt32 = 0
        return tidemark_peer_uid(fd, &uid) == 0 ? uid : nil
    }

    package func send(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { tidemark_send_all(fd, $0.baseAddress, $0.count) == 0 }
    }

    /// The next line (without "\n"), nil at end of stream, on error, on a line longer than
    /// `ArchiverProtocol.maxLineBytes` or when `deadline` (monotonic nanoseconds) passes.
    package func readLine(deadline: UInt64) -> [UInt8]? {
        while true {
            if let nl = buffer.firstIndex(of: 10) {
                let line = Array(buffer[..<nl])
                buffer.removeSubrange(...nl)
                return line
            }
            guard buffer.count <= ArchiverProtocol.maxLineBytes else { return nil }
            let now = monotonicNanoseconds()
            guard now < deadline else { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let wait = Int32(min(UInt64(Int32.max), (deadline - now + 999_999) / 1_000_000))
            let ready = poll(&p, 1, wait)
            if ready < 0 && errno == EINTR { continue }
            if ready == 0 { continue }
            guard ready > 0 else { return nil }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            buffer += chunk[..<n]
        }
    }
}
