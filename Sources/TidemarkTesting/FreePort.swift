#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finding a free loopback TCP port.
public enum FreePort {
    /// Binds a socket to 127.0.0.1 port 0, reads the port the kernel chose and closes the
    /// socket. Another process could take the port before the caller binds it, so callers retry
    /// with a new port when binding fails.
    public static func loopback() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw error("socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw error("bind") }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw error("getsockname") }
        return UInt16(bigEndian: address.sin_port)
    }

    private static func error(_ call: String) -> TestingError {
        TestingError(.fileSystem, "unable to find a free port: \(call): \(String(cString: strerror(errno)))")
    }
}
