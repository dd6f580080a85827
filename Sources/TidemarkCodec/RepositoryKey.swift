import Crypto
import CryptoExtras
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkSystem

/// The repository's random 256-bit data key. Every object key is derived from it with HKDF and
/// a per-object salt; the data key itself only ever exists wrapped or in memory.
public struct RepositoryKey: Sendable {
    /// 16 random bytes naming the key; stored in every object header.
    public let id: [UInt8]
    let key: SymmetricKey

    public init(id: [UInt8], keyBytes: [UInt8]) {
        precondition(id.count == 16 && keyBytes.count == 32)
        self.id = id
        self.key = SymmetricKey(data: keyBytes)
    }

    /// A fresh random key.
    public static func generate() -> RepositoryKey {
        RepositoryKey(id: randomBytes(16), keyBytes: randomBytes(32))
    }

    public var idHex: String { hexString(id) }

    /// The AES-256-GCM key for one object.
    func objectKey(salt: [UInt8]) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, salt: salt, info: Array("tidemark/object/v1".utf8), outputByteCount: 32)
    }

    /// HMAC-SHA256 under a key derived for `purpose`; authenticates small plain-text files.
    public func mac(_ message: [UInt8], purpose: String) -> [UInt8] {
        let macKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: key, salt: [UInt8](), info: Array("tidemark/mac/\(purpose)/v1".utf8), outputByteCount: 32)
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: macKey))
    }
}

/// scrypt cost parameters, stored in the repository configuration.
public struct ScryptParameters: Codable, Hashable, Sendable {
    public var logN: Int
    public var r: Int
    public var p: Int

    public init(logN: Int, r: Int = 8, p: Int = 1) {
        self.logN = logN
        self.r = r
        self.p = p
    }

    /// For passphrases a human chose: N = 2^15 (a common interactive setting).
    public static let passphrase = ScryptParameters(logN: 15)
    /// For keys that are already 256 random bits (`head -c 32 /dev/urandom | base64`): the work
    /// factor adds nothing against brute force, and `wal-push` runs once per segment. Generated
    /// keys were wrapped so before key slots; they are now wrapped with HKDF.
    public static let randomKey = ScryptParameters(logN: 10)

    /// Chooses parameters for a secret by its form (`SecretForm`): a generated key gets the
    /// cheap setting, a passphrase the expensive one. (New wrappings of generated keys use
    /// HKDF instead, `WrappedKey.wrap(_:secret:)`; this remains for scrypt wrappings.)
    public static func recommended(for secret: [UInt8]) -> ScryptParameters {
        SecretForm(of: secret) == .generated ? .randomKey : .passphrase
    }

    func validate() throws(KeyError) {
        // r ≤ 16: swift-crypto gives BoringSSL a memory limit of 128·N·r·p + one page, and scrypt
        // needs 128·r·(N + p + 1), so with p = 1 any r above 16 fails with an opaque error.
        // The parameters are read before the repository config's MAC can be checked (the MAC
        // key is inside the wrapped key), so they are capped: a tampered config must not make
        // every wal-push allocate gigabytes. 128·r·N ≤ 256 MiB, p ≤ 4.
        guard (10...20).contains(logN), (1...16).contains(r), (1...4).contains(p),
              128 * r << logN <= 256 << 20 else {
            throw .invalidParameters("scrypt logN=\(logN) r=\(r) p=\(p)")
        }
    }
}

/// Cryptographically secure random bytes (`SystemRandomNumberGenerator` reads getrandom(2)).
public func randomBytes(_ count: Int) -> [UInt8] {
    var rng = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
}

public func hexString(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0xF)])
    }
    return String(decoding: out, as: UTF8.self)
}

public func hexBytes(_ text: String) -> [UInt8]? {
    let u = Array(text.utf8)
    guard u.count % 2 == 0 else { return nil }
    var out = [UInt8]()
    out.reserveCapacity(u.count / 2)
    func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
    var i = 0
    while i < u.count {
        guard let h = nibble(u[i]), let l = nibble(u[i + 1]) else { return nil }
        out.append(h << 4 | l)
        i += 2
    }
    return out
}

/// Incremental SHA-256 for callers that do not import Crypto.
public struct ContentHasher: Sendable {
    var hasher = SHA256()
    public init() {}
    public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }
    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) } }
    public func finalize() -> [UInt8] { Array(hasher.finalize()) }
}

/// A 128-bit keyed block hash: GMAC (AES-256-GCM with an empty message, the block as
/// associated data, a fixed nonce) under a key derived from the repository key.
///
/// GHASH runs at memory speed with CLMUL, where HMAC-SHA256 was the largest cost of a backup.
/// With a fixed nonce the tag is a universal hash masked by a constant: collisions between
/// different blocks are bounded by about blocks/2^128 for anyone who does not know the key,
/// and the hashes are only ever stored inside encrypted block maps. Restores still check every
/// file's SHA-256, so even a collision could not go unnoticed.
public struct BlockHasher: Sendable {
    let key: SymmetricKey
    let nonce: AES.GCM.Nonce

    public init(repositoryKey: RepositoryKey, purpose: String = "block-gmac") {
        key = HKDF<SHA256>.deriveKey(inputKeyMaterial: repositoryKey.key, salt: [UInt8](),
                                     info: Array("tidemark/mac/\(purpose)/v1".utf8), outputByteCount: 32)
        // A 12-byte nonce is always valid.
        nonce = try! AES.GCM.Nonce(data: [UInt8](repeating: 0, count: 12))
    }

    public func hash(_ block: UnsafeRawBufferPointer) -> BlockHash {
        // Sealing an empty message with a valid key and nonce cannot fail.
        let box = try! AES.GCM.seal([UInt8](), using: key, nonce: nonce, authenticating: block)
        return box.tag.withUnsafeBytes { raw in
            BlockHash(high: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                      low: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
    }
}

/// A truncated keyed hash of one block.
public struct BlockHash: Hashable, Sendable {
    public var high: UInt64
    public var low: UInt64
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }
}
