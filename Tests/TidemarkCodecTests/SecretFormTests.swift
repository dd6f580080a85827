import Foundation
import Testing
import TidemarkCodec

private let generated = Array(Data(noise(32, seed: 11)).base64EncodedString().utf8)

@Suite("HKDF wrapping of generated keys", .tags(.small))
struct HKDFWrappingTests {
    @Test func aGeneratedKeyIsWrappedWithHKDFAndOpensOnlyWithItself() throws {
        let key = RepositoryKey.generate()
        let wrapped = try WrappedKey.wrap(key, secret: generated)
        #expect(wrapped.kdf == "hkdf-sha256" && wrapped.scrypt == nil && wrapped.info == "tidemark/wrapped-key/kek/v1")
        #expect(wrapped.cost == 0 && wrapped.kdfDescription == "hkdf-sha256")
        #expect(try wrapped.unwrap(passphrase: generated).mac([1], purpose: "t") == key.mac([1], purpose: "t"))
        // A trailing newline is trimmed by the configuration, not here: these are other secrets.
        for other in [Array(Data(noise(32, seed: 12)).base64EncodedString().utf8), generated + [10], Array(generated.dropLast())] {
            expectKeyError(.wrongPassphrase) { try wrapped.unwrap(passphrase: other) }
        }
        let json = String(decoding: try JSONEncoder().encode(wrapped), as: UTF8.self)
        #expect(!json.contains("scrypt") && !json.contains(String(decoding: generated, as: UTF8.self)))
    }

    @Test func theInfoAndSaltAreBound() throws {
        let wrapped = try WrappedKey.wrap(RepositoryKey.generate(), secret: generated)
        var otherInfo = wrapped
        otherInfo.info = "tidemark/wrapped-key/kek/v2"
        expectKeyError(.wrongPassphrase) { try otherInfo.unwrap(passphrase: generated) }
        var noInfo = wrapped
        noInfo.info = nil
        expectKeyError(.malformed) { try noInfo.unwrap(passphrase: generated) }
        var otherSalt = wrapped
        otherSalt.salt = Data(noise(32, seed: 3)).base64EncodedString()
        expectKeyError(.wrongPassphrase) { try otherSalt.unwrap(passphrase: generated) }
        var relabelled = wrapped
        relabelled.kdf = "scrypt"
        #expect(throws: KeyError.self) { try relabelled.unwrap(passphrase: generated) }
    }

    @Test func aPassphraseKeepsScryptAtTwoToThe15() throws {
        let wrapped = try WrappedKey.wrap(RepositoryKey.generate(), secret: Array("correct horse battery staple".utf8))
        #expect(wrapped.kdf == "scrypt" && wrapped.scrypt == .passphrase && wrapped.info == nil)
        #expect(wrapped.kdfDescription == "scrypt N=2^15 r=8 p=1" && wrapped.cost > 0)
    }

    @Test func cheaperSlotsSortFirst() throws {
        let hkdf = try WrappedKey.wrap(RepositoryKey.generate(), secret: generated)
        let fast = try WrappedKey.wrap(RepositoryKey.generate(), passphrase: Array("x".utf8), parameters: ScryptParameters(logN: 10))
        var slow = fast
        slow.scrypt = ScryptParameters(logN: 15)
        #expect(hkdf.cost < fast.cost && fast.cost < slow.cost)
    }
}

@Suite("Secret form and the passphrase rule", .tags(.small))
struct SecretFormTests {
    @Test func generatedKeysInEveryForm() {
        let bytes = noise(32, seed: 5)
        #expect(SecretForm(of: generated) == .generated)
        #expect(SecretForm(of: Array(bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined().utf8)) == .generated)
        // A raw binary key file (`head -c 32 /dev/urandom > key`).
        let raw = noise(40, seed: 9).map { $0 == 0x0A || $0 == 0x20 || $0 == 0x09 || $0 == 0x0D ? 0x80 : $0 }
        #expect(SecretForm(of: raw) == .generated)
    }

    @Test(arguments: [
        "correct horse battery staple",
        "c2VjcmV0",
        "0123456789abcdef0123456789abcdef",
        "a passphrase of two lines that is long enough\nand has a second line with many letters",
    ])
    func passphrases(secret: String) {
        #expect(SecretForm(of: Array(secret.utf8)) == .passphrase)
    }

    @Test func binaryWithoutEntropyIsAPassphrase() {
        #expect(SecretForm(of: [UInt8](repeating: 1, count: 64)) == .passphrase)
        #expect(SecretForm(of: Array(noise(20, seed: 1)).map { $0 | 0x80 }) == .passphrase)  // too short
    }

    @Test(arguments: [
        "hunter2",
        "fifteen chars!!",
        "your-super-secret-encryption-key-here",
        "YOUR_SUPER_SECRET_ENCRYPTION_KEY_HERE",
        "changeme-changeme",
        "Password1234567890!",
        "passwordpassword",
        "your-encryption-key-here",
        "put-your-backup-key-here",
        "aaaaaaaaaaaaaaaaaaaaaaaa",
        "abababababababababab",
    ])
    func weakPassphrasesAreNamed(secret: String) throws {
        let weakness = try #require(PassphraseRule.weakness(of: Array(secret.utf8)))
        #expect(!weakness.contains(secret))
    }

    @Test(arguments: [
        "correct horse battery staple",
        "expire test passphrase",
        "sixteen chars ok",
        "my password is a long sentence",
    ])
    func strongPassphrasesPass(secret: String) {
        #expect(PassphraseRule.weakness(of: Array(secret.utf8)) == nil)
    }

    @Test func generatedKeysAlwaysPass() {
        #expect(PassphraseRule.weakness(of: generated) == nil)
        #expect(PassphraseRule.weakness(of: Array(String(repeating: "0123456789abcdef", count: 4).utf8)) == nil)
    }
}
