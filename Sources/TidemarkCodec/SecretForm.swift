#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkSystem

/// What an operator's secret is, judged by its form alone (it never leaves memory): a key a
/// machine generated, or a passphrase a person chose. A generated key is wrapped with HKDF,
/// a passphrase with scrypt (docs/format.md, "Wrapped key").
public enum SecretForm: Sendable, Equatable {
    /// At least 256 random-looking bits: 64+ hex digits (10+ distinct), base64 of 32+ bytes
    /// (16+ distinct byte values), or a raw binary file of 32+ bytes (16+ distinct values).
    case generated
    /// Anything else.
    case passphrase

    /// The form of `secret`, without surrounding white space (as the configuration reads it).
    public init(of secret: [UInt8]) {
        let bytes = trimmedSecret(secret)
        let text = String(decoding: bytes, as: UTF8.self)
        let isHex = bytes.count >= 64 && Set(bytes).count >= 10
            && bytes.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) || ($0 >= 65 && $0 <= 70) }
        let decoded = Data(base64Encoded: text)
        let isBase64 = (decoded?.count ?? 0) >= 32 && Set(decoded ?? Data()).count >= 16
        // `head -c 32 /dev/urandom > key`: not text (invalid UTF-8, or control bytes other than
        // tab and line ends; a passphrase of several lines stays a passphrase).
        let isText = Array(text.utf8) == bytes && !bytes.contains { ($0 < 32 && ![9, 10, 13].contains($0)) || $0 == 127 }
        let isRaw = !isText && bytes.count >= 32 && Set(bytes).count >= 16
        self = isHex || isBase64 || isRaw ? .generated : .passphrase
    }
}

/// The rule a new passphrase must pass (`init`, `key change`, `key add`); `check` reports an
/// existing key that fails it as a warning.
public enum PassphraseRule {
    public static let minimumLength = 16

    /// Placeholders seen in guides and sample configs, as letters only, in lower case.
    static let placeholders: Set<String> = [
        "yoursupersecretencryptionkeyhere", "yourencryptionkeyhere", "yourkeyhere", "encryptionkey", "changeme", "changeit",
        "password", "passphrase", "secret", "secretkey", "mysecretkey", "replaceme", "example", "default", "letmein", "qwerty",
        "admin", "test", "tidemark", "backup",
    ]

    /// Why `secret` is too weak to protect a repository (a phrase for "the key …"), or nil.
    /// A generated key always passes. Never returns any part of the secret.
    public static func weakness(of secret: [UInt8]) -> String? {
        guard SecretForm(of: secret) == .passphrase else { return nil }
        let text = String(decoding: trimmedSecret(secret), as: UTF8.self)
        if text.count < minimumLength { return "is shorter than \(minimumLength) characters" }
        // Letters only, lower case; trailing digits and repetitions ("Password123!", "changeme-changeme") do not help.
        let letters = String(text.lowercased().unicodeScalars.filter { $0.properties.isAlphabetic }.map(Character.init))
        let known = placeholders.contains { word in
            !letters.isEmpty && letters.count % word.count == 0 && String(repeating: word, count: letters.count / word.count) == letters
        }
        if known || letters.contains("yoursupersecret") || letters.hasSuffix("keyhere") || Set(text).count <= 3 {
            return "is a known placeholder or trivial pattern"
        }
        return nil
    }
}
