#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore
import TidemarkSystem

/// Where `/metrics` and `/healthz` are served and who may read `/metrics` (`serve.listen`,
/// `serve.metricsTokenFile`). Without a token `/metrics` is open, which is allowed on a
/// loopback address only: anyone who can reach a public address could read the stanza's state.
public struct HTTPListenConfiguration: Sendable, Equatable {
    public static let defaultListen = "127.0.0.1:8470"

    public var host: String
    public var port: Int
    /// The bearer token `/metrics` requires; nil: none required (loopback only).
    public var token: Secret?

    public static func == (a: Self, b: Self) -> Bool {
        a.host == b.host && a.port == b.port && a.token?.bytes == b.token?.bytes
    }

    /// `listen` is `HOST:PORT`, `[IPv6]:PORT` or `localhost:PORT`; the token is read from
    /// `tokenFile` (same rules as the key file: not world-readable, not empty).
    public init(listen: String = Self.defaultListen, tokenFile: String?) throws {
        (host, port) = try Self.parse(listen)
        token = try tokenFile.map { try KeyFile.read($0, source: "serve.metricsTokenFile") }
        guard token != nil || Self.isLoopback(host) else {
            throw TidemarkError(.configuration, "refusing to serve /metrics on '\(listen)' without a token: the address is not loopback",
                                hints: ["set serve.metricsTokenFile to a file (mode 0600) holding a long random token",
                                        "or listen on 127.0.0.1 and scrape through a local agent"])
        }
    }

    /// For tests and callers that hold the token already.
    public init(host: String, port: Int, token: Secret?) {
        self.host = host
        self.port = port
        self.token = token
    }

    static func parse(_ listen: String) throws -> (String, Int) {
        let bad = TidemarkError(.configuration, "serve.listen '\(listen)' is not HOST:PORT",
                                hints: ["for example 127.0.0.1:8470 or [::1]:8470"])
        var host: Substring
        let portText: Substring
        if listen.hasPrefix("[") {
            guard let close = listen.firstIndex(of: "]"), listen[listen.index(after: close)...].hasPrefix(":") else { throw bad }
            host = listen[listen.index(after: listen.startIndex)..<close]
            portText = listen[listen.index(close, offsetBy: 2)...]
        } else {
            guard let colon = listen.lastIndex(of: ":"), !listen[..<colon].contains(":") else { throw bad }
            host = listen[..<colon]
            portText = listen[listen.index(after: colon)...]
        }
        if host.isEmpty { host = "127.0.0.1" }
        guard let port = Int(portText), (0...65535).contains(port) else { throw bad }
        return (String(host), port)
    }

    /// 127.0.0.0/8, ::1 and `localhost`.
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { $0.prefix(15).allSatisfy { $0 == 0 } && $0[15] == 1 }
        }
        return false
    }

    /// Whether `header` (the `Authorization` value) carries the token; compared in time that
    /// depends only on the lengths, never on where the first difference is.
    func authorizes(_ header: String?) -> Bool {
        guard let token else { return true }
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return false }
        let given = trimmedSecret(Array(header.utf8.dropFirst(7)))
        return Self.constantTimeEqual(given, token.bytes)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference: UInt8 = a.count == b.count ? 0 : 1
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}
