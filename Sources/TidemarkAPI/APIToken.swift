#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Crypto
import TidemarkCodec
import TidemarkCore

/// One bearer token of the admin API (`tidemark token create`): only its SHA-256 is kept, in
/// every configured repository (`<stanza>/tokens/<name>`, an authenticated envelope), so a
/// rebuilt host keeps its tokens and a copy of the repository reveals none of them.
public struct APIToken: Codable, Sendable, Equatable {
    public enum Scope: String, Codable, Sendable, CaseIterable {
        /// The GET routes.
        case read
        /// Every route.
        case operate
        /// CRON_SECRET: only /api/cron/backup (never stored).
        case cron
    }

    public var name: String
    public var scope: Scope
    /// RFC 3339, UTC.
    public var created: String
    /// Lowercase hex SHA-256 of the token's text.
    public var sha256: String

    public init(name: String, scope: Scope, created: String, sha256: String) {
        self.name = name
        self.scope = scope
        self.created = created
        self.sha256 = sha256
    }

    /// Whether `scope` may use a route that needs `needed`.
    public static func allows(_ scope: Scope, _ needed: Scope) -> Bool {
        switch (scope, needed) {
        case (.operate, .read), (.operate, .operate): return true
        case (.read, .read): return true
        case (.cron, .cron): return true
        default: return false
        }
    }

    /// 1–64 letters, digits, `.`, `_`, `-`, not starting with `.`.
    public static func checkName(_ name: String) throws {
        let ok = !name.isEmpty && name.utf8.count <= 64 && !name.hasPrefix(".")
            && name.utf8.allSatisfy { c in
                (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 46 || c == 95 || c == 45
            }
        guard ok else {
            throw TidemarkError(.invalidInput, "token name '\(name)' is not 1-64 letters, digits, '.', '_' or '-'",
                                hints: ["for example: tidemark token create --name grafana --scope read"])
        }
    }

    /// A new token's text: `tmk_` and 32 random bytes in hex.
    public static func generate() -> String {
        let key = SymmetricKey(size: .bits256)
        return "tmk_" + key.withUnsafeBytes { Self.hex(Array($0)) }
    }

    public static func hash(_ text: [UInt8]) -> String {
        hex(Array(SHA256.hash(data: text)))
    }

    static func hex(_ bytes: [UInt8]) -> String { hexString(bytes) }

    /// Compared in time that depends only on the lengths.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference: UInt8 = a.count == b.count ? 0 : 1
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}
