import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A loopback HTTP/1.1 proxy in front of a test server that injects faults: error statuses,
/// stalls, connections cut mid-request or mid-response, and outages (listener closed).
///
/// Every client connection carries one request (the proxy answers with `Connection: close`),
/// which keeps the proxy simple and makes "the next N requests" exact. Plain POSIX sockets on
/// threads: the proxy must keep working while the test's own tasks are busy.
public final class FaultProxy: Sendable {
    /// What to do to a request.
    public enum Fault: Sendable, Equatable {
        /// Answer with this status and an S3 XML error body (500 InternalError, 503 SlowDown…).
        case status(Int)
        /// Read the request and never answer, for this many seconds, then close.
        case stall(seconds: Double)
        /// Forward the request, but pass only the first `bytes` bytes of the response, then close.
        case cutResponse(afterBytes: Int)
        /// Forward only the first `bytes` bytes of the request upstream, then close both sides.
        case cutRequest(afterBytes: Int)
    }

    struct Rule {
        var fault: Fault
        var remaining: Int
        var method: String?
    }

    struct State {
        var rules: [Rule] = []
        var listener: Int32 = -1
        var connections: Set<Int32> = []
        var requests = 0
        var faultsApplied = 0
        var stopped = false
    }

    public let port: UInt16
    public let upstreamPort: UInt16
    private let state = Mutex(State())

    /// Starts listening on a free loopback port, forwarding to 127.0.0.1:`upstreamPort`.
    public init(upstreamPort: UInt16) throws {
        self.upstreamPort = upstreamPort
        var lastError: (any Error)?
        for _ in 0..<10 {
            let candidate = try FreePort.loopback()
            do {
                let fd = try Self.listen(on: candidate)
                port = candidate
                state.withLock { $0.listener = fd }
                startAcceptLoop(fd)
                return
            } catch {
                lastError = error
            }
        }
        throw lastError ?? TestingError(.processFailed, "unable to start the fault proxy")
    }

    deinit { stop() }

    /// `http://127.0.0.1:PORT`.
    public var endpoint: String { "http://127.0.0.1:\(port)" }

    /// Applies `fault` to the next `count` requests (of `method` only, when given).
    public func inject(_ fault: Fault, count: Int = 1, method: String? = nil) {
        state.withLock { $0.rules.append(Rule(fault: fault, remaining: count, method: method)) }
    }

    /// Drops every pending fault: requests pass through again.
    public func clearFaults() { state.withLock { $0.rules = [] } }

    /// Requests seen, and how many of them got a fault.
    public var counts: (requests: Int, faults: Int) { state.withLock { ($0.requests, $0.faultsApplied) } }

    /// An outage: the listener closes (new connections are refused) and open connections are cut.
    public func close() {
        let (listener, connections) = state.withLock { s -> (Int32, Set<Int32>) in
            defer { s.listener = -1; s.connections = [] }
            return (s.listener, s.connections)
        }
        if listener >= 0 {
            Glibc.shutdown(listener, Int32(SHUT_RDWR))
            Glibc.close(listener)
        }
        for fd in connections { Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
    }

    /// Ends an outage: listens on the same port again.
    public func reopen() throws {
        let fd = try Self.listen(on: port)
        state.withLock { $0.listener = fd }
        startAcceptLoop(fd)
    }

    /// Stops for good.
    public func stop() {
        state.withLock { $0.stopped = true }
        close()
    }

    // MARK: sockets

    static func listen(on port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestingError(.processFailed, "socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = loopbackAddress(port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 128) == 0 else {
            let message = String(cString: strerror(errno))
            Glibc.close(fd)
            throw TestingError(.processFailed, "unable to listen on 127.0.0.1:\(port): \(message)")
        }
        return fd
    }

    static func loopbackAddress(_ port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    static func connect(to port: UInt16) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = loopbackAddress(port)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            Glibc.close(fd)
            return nil
        }
        return fd
    }

    private func startAcceptLoop(_ listener: Int32) {
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 {
                    if errno == EINTR { continue }
                    return
                }
                let accepted = state.withLock { s -> Bool in
                    guard !s.stopped, s.listener == listener else { return false }
                    s.connections.insert(client)
                    return true
                }
                guard accepted else {
                    Glibc.close(client)
                    return
                }
                Thread.detachNewThread { [self] in
                    handle(client)
                    state.withLock { _ = $0.connections.remove(client) }
                    Glibc.close(client)
                }
            }
        }
    }

    private func handle(_ client: Int32) {
        guard let (head, body) = Self.readRequest(client) else { return }
        let headText = String(decoding: head, as: UTF8.self)
        let method = String(headText.prefix { $0 != " " })
        let fault = state.withLock { s -> Fault? in
            s.requests += 1
            guard let i = s.rules.firstIndex(where: { $0.remaining > 0 && ($0.method == nil || $0.method == method) }) else { return nil }
            s.rules[i].remaining -= 1
            s.faultsApplied += 1
            return s.rules[i].fault
        }
        switch fault {
        case .status(let code)?:
            let (s3Code, reason) = code == 503 ? ("SlowDown", "Service Unavailable") : code == 429 ? ("SlowDown", "Too Many Requests") : ("InternalError", "Internal Server Error")
            let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>\(s3Code)</Code><Message>injected by FaultProxy</Message></Error>"
            let payload = method == "HEAD" ? "" : xml
            let response = "HTTP/1.1 \(code) \(reason)\r\nContent-Type: application/xml\r\nContent-Length: \(xml.utf8.count)\r\nConnection: close\r\n\r\n\(payload)"
            Self.writeAll(client, Array(response.utf8))
        case .stall(let seconds)?:
            let end = Date().addingTimeInterval(seconds)
            while Date() < end, !state.withLock({ $0.stopped }) { usleep(20_000) }
        case .cutRequest(let bytes)?:
            guard let upstream = Self.connect(to: upstreamPort) else { return }
            let all = Self.closing(head) + body
            Self.writeAll(upstream, Array(all.prefix(bytes)))
            Glibc.shutdown(upstream, Int32(SHUT_RDWR))
            Glibc.close(upstream)
        case .cutResponse(let bytes)?:
            guard let response = forward(head: head, body: body) else { return }
            Self.writeAll(client, Array(response.prefix(bytes)))
        case nil:
            guard let response = forward(head: head, body: body) else { return }
            Self.writeAll(client, response)
        }
    }

    /// Sends the request upstream with `Connection: close` and reads the whole response.
    private func forward(head: [UInt8], body: [UInt8]) -> [UInt8]? {
        guard let upstream = Self.connect(to: upstreamPort) else { return nil }
        defer { Glibc.close(upstream) }
        Self.writeAll(upstream, Self.closing(head) + body)
        var response = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(upstream, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += chunk[0..<n]
        }
        guard let split = Self.headEnd(response) else { return response }
        return Self.closing(Array(response[..<split])) + response[split...]
    }

    /// A request or response head (up to and excluding the blank line) with its Connection
    /// header replaced by `Connection: close`, blank line included.
    static func closing(_ head: [UInt8]) -> [UInt8] {
        // Bytes, not Characters: "\r\n" is one Character in Swift.
        let trimmed = head.count >= 4 && Array(head.suffix(4)) == [13, 10, 13, 10] ? Array(head.dropLast(4)) : head
        let text = String(decoding: trimmed, as: UTF8.self)
        let lines = text.components(separatedBy: "\r\n").filter { !$0.lowercased().hasPrefix("connection:") }
        return Array((lines.joined(separator: "\r\n") + "\r\nConnection: close\r\n\r\n").utf8)
    }

    static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i + 4
        }
        return nil
    }

    /// One request: its head (with the blank line) and its body (Content-Length framing).
    static func readRequest(_ fd: Int32) -> ([UInt8], [UInt8])? {
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        var split: Int?
        while split == nil {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            data += chunk[0..<n]
            split = headEnd(data)
        }
        let head = Array(data[..<split!])
        var body = Array(data[split!...])
        let text = String(decoding: head, as: UTF8.self).lowercased()
        var length = 0
        for line in text.components(separatedBy: "\r\n") where line.hasPrefix("content-length:") {
            length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        while body.count < length {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            body += chunk[0..<n]
        }
        return (head, body)
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }
}
