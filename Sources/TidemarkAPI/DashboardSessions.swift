#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The dashboard's logins: a random session id (the cookie) → the token's name and scope, a
/// CSRF token for its forms, and an expiry (12 h). Kept in memory: a restarted service asks
/// for the token again.
public actor DashboardSessions {
    public struct Session: Sendable, Equatable {
        public var id: String
        public var caller: APICaller
        public var csrf: String
        public var expires: Double
    }

    public static let cookieName = "tidemark_session"
    let lifetime: Double
    let clock: @Sendable () -> Double
    var sessions: [String: Session] = [:]

    public init(lifetime: Double = 12 * 3600, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.lifetime = lifetime
        self.clock = clock
    }

    public func open(_ caller: APICaller) -> Session {
        let now = clock()
        sessions = sessions.filter { $0.value.expires > now }
        if sessions.count >= 1000, let oldest = sessions.values.min(by: { $0.expires < $1.expires }) { sessions[oldest.id] = nil }
        let session = Session(id: Self.random(), caller: caller, csrf: Self.random(), expires: now + lifetime)
        sessions[session.id] = session
        return session
    }

    public func find(_ id: String?) -> Session? {
        guard let id, let s = sessions[id] else { return nil }
        guard s.expires > clock() else {
            sessions[id] = nil
            return nil
        }
        return s
    }

    public func close(_ id: String) { sessions[id] = nil }

    /// 32 random bytes as hex.
    static func random() -> String {
        var g = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return String((0..<64).map { _ in digits[Int(g.next() % 16)] })
    }

    /// The session id in a `Cookie` header.
    public static func sessionID(cookieHeader: String?) -> String? {
        guard let cookieHeader else { return nil }
        for part in cookieHeader.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces)
            if pair.hasPrefix(cookieName + "=") { return String(pair.dropFirst(cookieName.count + 1)) }
        }
        return nil
    }

    /// The `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/admin, Secure over TLS.
    public static func cookie(_ value: String, secure: Bool, maxAge: Int) -> String {
        "\(cookieName)=\(value); Path=/admin; HttpOnly; SameSite=Strict; Max-Age=\(maxAge)" + (secure ? "; Secure" : "")
    }
}
