import Crypto
import CryptoExtras
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkSystem

/// The data key sealed under a key (the KEK) derived from the operator's secret: with scrypt
/// for a passphrase, with HKDF-SHA256 for a generated key (`SecretForm`), which already holds
/// 256 random bits and gains nothing from stretching (docs/format.md, "Wrapped key").
public struct WrappedKey: Codable, Hashable, Sendable {
    public var keyID: String
    /// `"scrypt"` or `"hkdf-sha256"`.
    public var kdf: String
    /// scrypt only.
    public var scrypt: ScryptParameters?
    /// base64 of the KDF salt (32 random bytes).
    public var salt: String
    /// hkdf-sha256 only: the HKDF info string.
    public var info: String?
    /// base64 of nonce ‖ ciphertext ‖ tag (AES-256-GCM) of the 32-byte data key.
    public var sealedKey: String

    public static let scryptKDF = "scrypt"
    public static let hkdfKDF = "hkdf-sha256"
    static let hkdfInfo = "tidemark/wrapped-key/kek/v1"
    static let aadPrefix = Array("tidemark/wrapped-key/v1/".utf8)

    /// Wraps `key` under `secret` by its form: HKDF for a generated key, scrypt with
    /// `ScryptParameters.passphrase` (N = 2^15) for a passphrase. Blocking (scrypt): not on a
    /// cooperative thread.
    public static func wrap(_ key: RepositoryKey, secret: [UInt8]) throws -> WrappedKey {
        SecretForm(of: secret) == .generated ? try wrapGenerated(key, secret: secret)
            : try wrap(key, passphrase: secret, parameters: .passphrase)
    }

    /// Wraps `key` under `passphrase` with scrypt and `parameters`.
    public static func wrap(_ key: RepositoryKey, passphrase: [UInt8], parameters: ScryptParameters) throws -> WrappedKey {
        try parameters.validate()
        let salt = randomBytes(32)
        let kek = try deriveKEK(passphrase: passphrase, salt: salt, parameters: parameters)
        return WrappedKey(keyID: key.idHex, kdf: scryptKDF, scrypt: parameters, salt: Data(salt).base64EncodedString(),
                          info: nil, sealedKey: try seal(key, under: kek))
    }

    /// Wraps `key` under a generated key with HKDF-SHA256 (a few microseconds). Call it only for
    /// a secret whose `SecretForm` is `.generated`: HKDF does not slow down guessing.
    public static func wrapGenerated(_ key: RepositoryKey, secret: [UInt8]) throws -> WrappedKey {
        let salt = randomBytes(32)
        let kek = try deriveKEK(secret: secret, salt: salt, info: hkdfInfo)
        return WrappedKey(keyID: key.idHex, kdf: hkdfKDF, scrypt: nil, salt: Data(salt).base64EncodedString(),
                          info: hkdfInfo, sealedKey: try seal(key, under: kek))
    }

    private static func seal(_ key: RepositoryKey, under kek: SymmetricKey) throws -> String {
        let box = try key.key.withUnsafeBytes { raw in
            try AES.GCM.seal(Array(raw), using: kek, authenticating: aadPrefix + key.id)
        }
        guard let combined = box.combined else { throw KeyError.malformed("sealed box") }
        return combined.base64EncodedString()
    }

    /// Unwraps the data key; a `KeyError` with code `.wrongPassphrase` when the secret does not open it.
    public func unwrap(passphrase: [UInt8]) throws -> RepositoryKey {
        guard let salt = Data(base64Encoded: salt), salt.count >= 16,
              let sealed = Data(base64Encoded: sealedKey),
              let id = hexBytes(keyID), id.count == 16
        else { throw KeyError.malformed("wrapped key fields") }
        let kek: SymmetricKey
        switch kdf {
        case Self.scryptKDF:
            guard let scrypt else { throw KeyError.malformed("wrapped key fields") }
            try scrypt.validate()
            kek = try Self.deriveKEK(passphrase: passphrase, salt: Array(salt), parameters: scrypt)
        case Self.hkdfKDF:
            guard let info, info.utf8.count <= 256 else { throw KeyError.malformed("wrapped key fields") }
            kek = try Self.deriveKEK(secret: passphrase, salt: Array(salt), info: info)
        default:
            throw KeyError.malformed("unknown key-derivation function \(kdf)")
        }
        let keyBytes: Data
        do {
            keyBytes = try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: kek, authenticating: Self.aadPrefix + id)
        } catch {
            throw KeyError.wrongPassphrase(cause: error)
        }
        guard keyBytes.count == 32 else { throw KeyError.malformed("data key length") }
        return RepositoryKey(id: id, keyBytes: Array(keyBytes))
    }

    /// The relative cost of one unwrap (0 for HKDF; scrypt's memory-hardness N·r·p), so that
    /// opening tries cheap slots first.
    public var cost: Int {
        guard kdf == Self.scryptKDF, let s = scrypt, (0...22).contains(s.logN) else { return 0 }
        return (1 << s.logN) * max(s.r, 1) * max(s.p, 1)
    }

    /// `scrypt N=2^15 r=8 p=1` or `hkdf-sha256`, for people.
    public var kdfDescription: String {
        guard kdf == Self.scryptKDF, let s = scrypt else { return kdf }
        return "scrypt N=2^\(s.logN) r=\(s.r) p=\(s.p)"
    }

    static func deriveKEK(passphrase: [UInt8], salt: [UInt8], parameters: ScryptParameters) throws -> SymmetricKey {
        guard !passphrase.isEmpty else { throw KeyError.malformed("empty passphrase") }
        return try KDF.Scrypt.deriveKey(from: passphrase, salt: salt, outputByteCount: 32,
                                        rounds: 1 << parameters.logN, blockSize: parameters.r,
                                        parallelism: parameters.p)
    }

    static func deriveKEK(secret: [UInt8], salt: [UInt8], info: String) throws -> SymmetricKey {
        guard !secret.isEmpty else { throw KeyError.malformed("empty passphrase") }
        return HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: secret), salt: salt,
                                      info: Array(info.utf8), outputByteCount: 32)
    }
}
