import Crypto
import CryptoExtras
import Foundation
import Testing
import TidemarkCodec
import TidemarkSystem

/// Fast enough for debug builds; production uses `.passphrase` (logN 15) or `.randomKey`.
private let fast = ScryptParameters(logN: 10)
private let passphrase = Array("correct horse battery staple".utf8)

@Suite("Repository key wrapping", .tags(.small))
struct KeyWrappingTests {
    @Test func unwrapGivesTheSameKey() throws {
        let key = RepositoryKey.generate()
        let wrapped = try WrappedKey.wrap(key, passphrase: passphrase, parameters: fast)
        #expect(wrapped.keyID == key.idHex)
        #expect(wrapped.kdf == "scrypt")
        #expect(wrapped.scrypt == fast)
        let unwrapped = try wrapped.unwrap(passphrase: passphrase)
        #expect(unwrapped.id == key.id)
        // Same key bytes: objects written with one open with the other, both ways.
        let plaintext = noise(1000)
        let a = encodeEnvelope(plaintext, key: key, kind: .generic, compression: .lz4, chunkSize: 256).bytes
        #expect(try EnvelopeReader.decode(a, key: unwrapped).plaintext == plaintext)
        let b = encodeEnvelope(plaintext, key: unwrapped, kind: .generic, compression: .lz4, chunkSize: 256).bytes
        #expect(try EnvelopeReader.decode(b, key: key).plaintext == plaintext)
        #expect(unwrapped.mac([1, 2, 3], purpose: "test") == key.mac([1, 2, 3], purpose: "test"))
    }

    @Test func wrappingTwiceUsesFreshSaltAndNonce() throws {
        let key = RepositoryKey.generate()
        let first = try WrappedKey.wrap(key, passphrase: passphrase, parameters: fast)
        let second = try WrappedKey.wrap(key, passphrase: passphrase, parameters: fast)
        #expect(first.salt != second.salt)
        #expect(first.sealedKey != second.sealedKey)
        #expect(try second.unwrap(passphrase: passphrase).id == key.id)
    }

    @Test func survivesJSON() throws {
        let key = RepositoryKey.generate()
        let wrapped = try WrappedKey.wrap(key, passphrase: passphrase, parameters: fast)
        let json = try JSONEncoder().encode(wrapped)
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.contains("\"logN\":10"))
        let decoded = try JSONDecoder().decode(WrappedKey.self, from: json)
        #expect(decoded == wrapped)
        #expect(try decoded.unwrap(passphrase: passphrase).mac([9], purpose: "x") == key.mac([9], purpose: "x"))
    }

    @Test(arguments: ["correct horse battery stapler", "Correct horse battery staple", "correct horse battery staple ", "x"])
    func wrongPassphrase(attempt: String) throws {
        let wrapped = try WrappedKey.wrap(RepositoryKey.generate(), passphrase: passphrase, parameters: fast)
        expectKeyError(.wrongPassphrase) { try wrapped.unwrap(passphrase: Array(attempt.utf8)) }
    }

    @Test func emptyPassphraseIsRefused() throws {
        #expect(throws: KeyError.self) {
            try WrappedKey.wrap(RepositoryKey.generate(), passphrase: [], parameters: fast)
        }
        let wrapped = try WrappedKey.wrap(RepositoryKey.generate(), passphrase: passphrase, parameters: fast)
        #expect(throws: KeyError.self) { try wrapped.unwrap(passphrase: []) }
    }

    enum Field: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case sealedKey, salt
        var testDescription: String { rawValue }
        var keyPath: WritableKeyPath<WrappedKey, String> { self == .sealedKey ? \.sealedKey : \.salt }
    }

    /// Flips one bit in bytes of the base64-decoded field.
    @Test(arguments: Field.allCases)
    func tamperedFieldIsRejected(field: Field) throws {
        let wrapped = try WrappedKey.wrap(RepositoryKey.generate(), passphrase: passphrase, parameters: fast)
        let bytes = try #require(Data(base64Encoded: wrapped[keyPath: field.keyPath]))
        #expect(bytes.count == (field == .sealedKey ? 12 + 32 + 16 : 32))
        // Every byte of the sealed key (nonce, ciphertext, tag); a few of the salt (each costs an scrypt).
        let positions = field == .sealedKey ? Array(bytes.indices) : [0, 15, 31]
        for position in positions {
            var damaged = bytes
            damaged[position] ^= 0x10
            var tampered = wrapped
            tampered[keyPath: field.keyPath] = damaged.base64EncodedString()
            expectKeyError(.wrongPassphrase, "byte \(position)") { try tampered.unwrap(passphrase: passphrase) }
        }
    }

    @Test func tamperedKeyIDIsRejected() throws {
        // The key id is bound in the associated data, so the data key cannot be relabelled.
        let wrapped = try WrappedKey.wrap(RepositoryKey.generate(), passphrase: passphrase, parameters: fast)
        var tampered = wrapped
        tampered.keyID = (wrapped.keyID.first == "0" ? "1" : "0") + wrapped.keyID.dropFirst()
        #expect(tampered.keyID != wrapped.keyID)
        expectKeyError(.wrongPassphrase) { try tampered.unwrap(passphrase: passphrase) }
    }

    @Test func malformedFieldsAreRejected() throws {
        let wrapped = try WrappedKey.wrap(RepositoryKey.generate(), passphrase: passphrase, parameters: fast)
        var shortSealed = wrapped
        shortSealed.sealedKey = Data([1, 2, 3]).base64EncodedString()
        #expect(throws: KeyError.self) { try shortSealed.unwrap(passphrase: passphrase) }
        var notBase64 = wrapped
        notBase64.salt = "not base64!"
        expectKeyError(.malformed, detail: "wrapped key fields") { try notBase64.unwrap(passphrase: passphrase) }
        var badID = wrapped
        badID.keyID = "zz"
        expectKeyError(.malformed, detail: "wrapped key fields") { try badID.unwrap(passphrase: passphrase) }
        var otherKDF = wrapped
        otherKDF.kdf = "argon2id"
        #expect(throws: KeyError.self) { try otherKDF.unwrap(passphrase: passphrase) }
    }

    /// Includes the memory cap: a tampered repository config must not make every push allocate
    /// gigabytes (128·r·N ≤ 256 MiB, p ≤ 4).
    @Test(arguments: [ScryptParameters(logN: 9), ScryptParameters(logN: 21), ScryptParameters(logN: 10, r: 0),
                      ScryptParameters(logN: 10, r: 17), ScryptParameters(logN: 10, r: 32), ScryptParameters(logN: 10, p: 0),
                      ScryptParameters(logN: 10, p: 5), ScryptParameters(logN: 18, r: 16), ScryptParameters(logN: 22, r: 16, p: 16)])
    func invalidParametersAreRefused(parameters: ScryptParameters) throws {
        let error = #expect(throws: KeyError.self) {
            try WrappedKey.wrap(RepositoryKey.generate(), passphrase: passphrase, parameters: parameters)
        }
        guard error?.code == .invalidParameters else {
            Issue.record("expected invalidParameters, got \(String(describing: error))")
            return
        }
        var wrapped = try WrappedKey.wrap(RepositoryKey.generate(), passphrase: passphrase, parameters: fast)
        wrapped.scrypt = parameters
        #expect(throws: KeyError.self) { try wrapped.unwrap(passphrase: passphrase) }
    }

    /// Every combination `validate` accepts at the edges must actually derive a key.
    @Test(arguments: [ScryptParameters(logN: 10, r: 1, p: 1), ScryptParameters(logN: 10, r: 16, p: 1),
                      ScryptParameters(logN: 10, r: 16, p: 2), ScryptParameters(logN: 10, r: 1, p: 4),
                      ScryptParameters(logN: 17, r: 16, p: 1)])
    func acceptedParametersWork(parameters: ScryptParameters) async throws {
        let key = RepositoryKey.generate()
        // Up to 256 MiB of scrypt: on a pool thread, so the other suites' tasks keep their
        // cooperative threads (a deadline test measures how soon its task resumes).
        let unwrapped = try await BlockingPool.shared.run("derive") {
            try WrappedKey.wrap(key, passphrase: passphrase, parameters: parameters).unwrap(passphrase: passphrase)
        }
        #expect(unwrapped.id == key.id)
    }

    @Test func changedParametersDoNotOpen() throws {
        var wrapped = try WrappedKey.wrap(RepositoryKey.generate(), passphrase: passphrase, parameters: fast)
        wrapped.scrypt = ScryptParameters(logN: 11)
        expectKeyError(.wrongPassphrase) { try wrapped.unwrap(passphrase: passphrase) }
    }
}

@Suite("scrypt parameters", .tags(.small))
struct ScryptParameterTests {
    @Test func presets() {
        #expect(ScryptParameters.passphrase == ScryptParameters(logN: 15, r: 8, p: 1))
        #expect(ScryptParameters.randomKey == ScryptParameters(logN: 10, r: 8, p: 1))
    }

    @Test func generatedKeysGetTheCheapSetting() {
        let bytes = noise(32, seed: 7)
        let base64 = Data(bytes).base64EncodedString()
        #expect(ScryptParameters.recommended(for: Array(base64.utf8)) == .randomKey)
        #expect(ScryptParameters.recommended(for: Array((base64 + "\n").utf8)) == .randomKey)
        let hex = bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        #expect(hex.count == 64)
        #expect(ScryptParameters.recommended(for: Array(hex.utf8)) == .randomKey)
        #expect(ScryptParameters.recommended(for: Array(hex.uppercased().utf8)) == .randomKey)
    }

    @Test(arguments: [
        "correct horse battery staple",
        "hunter2",
        "Tr0ub4dor&3",
        "c2VjcmV0",  // base64 of 6 bytes: too short to be a generated key
        "0123456789abcdef0123456789abcdef",  // 32 hex digits: only 128 bits
        Data(count: 32).base64EncodedString(),  // base64 of 32 zero bytes: not random
    ])
    func passphrasesGetTheExpensiveSetting(secret: String) {
        #expect(ScryptParameters.recommended(for: Array(secret.utf8)) == .passphrase)
    }
}

@Suite("scrypt (RFC 7914)", .tags(.small))
struct ScryptVectorTests {
    /// RFC 7914 §12, second vector: P="password", S="NaCl", N=1024, r=8, p=16, dkLen=64.
    @Test func rfc7914Vector() throws {
        let key = try KDF.Scrypt.deriveKey(from: Array("password".utf8), salt: Array("NaCl".utf8), outputByteCount: 64,
                                           rounds: 1024, blockSize: 8, parallelism: 16)
        let expected = """
            fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162\
            2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640
            """
        let hex = key.withUnsafeBytes { raw in raw.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
        #expect(hex == expected)
    }
}
