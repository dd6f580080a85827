import Crypto
import TidemarkConfiguration
import TidemarkCodec
import TidemarkCore

/// Proof that a `wal-push` and the archiver it asks serve the same configuration: the same
/// key secret, the same repositories, the same stanza (docs/archiver.md, "Safety"). A
/// `wal-push` configured with another key must not exit 0 because an archiver holding the
/// right one answers `durable`: it must push itself and fail as it would without an archiver.
///
/// The archiver sends a fresh random salt in each connection's greeting; the client answers
/// SHA-256("tidemark-archiver-identity-v1" ‖ salt ‖ key ‖ repositories ‖ stanza), each part
/// length-prefixed. No KDF: the per-segment fast path must stay cheap. The salt makes a
/// digest useless for any other connection; the socket is reachable by the same uid only.
public enum ArchiverIdentity {
    /// The digest of `configuration` under `salt`; nil without a key (wal-push then pushes
    /// itself and reports the missing key as usual).
    public static func digest(salt: [UInt8], configuration: Configuration) -> [UInt8]? {
        guard let key = configuration.encryptionKey else { return nil }
        var hasher = SHA256()
        func part(_ bytes: [UInt8]) {
            var length = UInt32(bytes.count).bigEndian
            withUnsafeBytes(of: &length) { hasher.update(bufferPointer: $0) }
            hasher.update(data: bytes)
        }
        part(Array("tidemark-archiver-identity-v1".utf8))
        part(salt)
        part(key.bytes)
        part(Array(canonicalRepositories(configuration).utf8))
        part(Array(configuration.stanza.utf8))
        return Array(hasher.finalize())
    }

    /// One line per repository, in the configured order: name, type, where, required, and for
    /// S3 the endpoint and region as written.
    public static func canonicalRepositories(_ configuration: Configuration) -> String {
        configuration.repositories.map { spec in
            [spec.name, spec.type.rawValue, spec.location, spec.required ? "required" : "optional",
             spec.s3?.endpoint ?? "", spec.s3?.region ?? ""].joined(separator: "\u{1f}")
        }.joined(separator: "\n")
    }

    /// Constant-time comparison.
    public static func matches(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for (x, y) in zip(a, b) { diff |= x ^ y }
        return diff == 0
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: bytes)) }

    static func hex(_ bytes: [UInt8]) -> String { hexString(bytes) }

    static func unhex(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = value(chars[i]), let lo = value(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
