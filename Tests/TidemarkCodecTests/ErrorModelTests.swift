import Testing
import TidemarkCodec

/// `EnvelopeError` and `KeyError` are classified by code, keep what the failure carried (key
/// ids, version, detail) and the error underneath, and say exactly what they always said.
@Suite("Codec error model", .tags(.small))
struct CodecErrorModelTests {
    static let key = RepositoryKey.generate()
    static let object = encodeEnvelope(noise(300), key: key, kind: .walSegment, compression: .none, chunkSize: 100).bytes

    @Test func everyEnvelopeErrorKeepsItsCodeFieldsAndMessage() {
        let cases: [(EnvelopeError, EnvelopeError.Code, String)] = [
            (.notAnEnvelope, .notAnEnvelope, "not a Tidemark object (bad magic)"),
            (.truncated, .truncated, "object is truncated (no authenticated trailer)"),
            (.unsupportedVersion(7), .unsupportedVersion, "object format version 7 is newer than this Tidemark understands"),
            (.unsupportedAlgorithm("cipher id 2"), .unsupportedAlgorithm, "unsupported algorithm in object header: cipher id 2"),
            (.keyMismatch(expected: "aa", found: "bb"), .keyMismatch, "object was encrypted with key bb, repository key is aa"),
            (.authenticationFailed("chunk 3"), .authenticationFailed,
             "authentication failed for chunk 3: the object is damaged or was tampered with"),
            (.corrupt("trailer length"), .corrupt, "object is corrupt: trailer length"),
        ]
        for (error, code, message) in cases {
            #expect(error.code == code)
            #expect(error.description == message)
            #expect(error.message == message)
        }
        #expect(EnvelopeError.unsupportedVersion(7).version == 7)
        let mismatch = EnvelopeError.keyMismatch(expected: "aa", found: "bb")
        #expect(mismatch.expectedKeyID == "aa" && mismatch.foundKeyID == "bb")
        #expect(EnvelopeError.authenticationFailed("chunk 3").detail == "chunk 3")
        #expect(EnvelopeError.corrupt("trailer length").detail == "trailer length")
        #expect(EnvelopeError.unsupportedAlgorithm("cipher id 2").detail == "cipher id 2")
    }

    @Test func everyKeyErrorKeepsItsCodeDetailAndMessage() {
        let cases: [(KeyError, KeyError.Code, String)] = [
            (.wrongPassphrase(), .wrongPassphrase, "the encryption key does not open this repository (wrong key)"),
            (.invalidParameters("scrypt logN=9 r=8 p=1"), .invalidParameters, "invalid key-derivation parameters: scrypt logN=9 r=8 p=1"),
            (.malformed("wrapped key fields"), .malformed, "malformed key material: wrapped key fields"),
        ]
        for (error, code, message) in cases {
            #expect(error.code == code)
            #expect(error.description == message)
        }
        #expect(KeyError.malformed("wrapped key fields").detail == "wrapped key fields")
        #expect(KeyError.invalidParameters("x").detail == "x")
    }

    @Test func anAuthenticationFailureKeepsTheAESError() {
        var damaged = Self.object
        damaged[EnvelopeHeader.size + 10] ^= 1
        let error = expectEnvelopeError(.authenticationFailed, detail: "chunk 0") { try EnvelopeReader.decode(damaged, key: Self.key) }
        #expect(error?.cause != nil)
        // The AES-GCM error says nothing about the key; the message stays the same with or without it.
        #expect(error?.description == "authentication failed for chunk 0: the object is damaged or was tampered with")
    }

    @Test func aTrailerCheckFailureKeepsTheAESError() {
        let header = Array(Self.object.prefix(EnvelopeHeader.size))
        let tail = Array(Self.object.suffix(EnvelopeTrailerCheck.finalFrameSize))
        let error = expectEnvelopeError(.authenticationFailed) {
            try EnvelopeTrailerCheck.trailer(header: header, tail: tail, expectedLength: 301, key: Self.key)
        }
        #expect(error?.cause != nil)
        #expect(error?.detail == "the trailer (for 301 bytes in 4 chunks)")
    }

    @Test func aWrongPassphraseKeepsTheAESError() throws {
        let wrapped = try WrappedKey.wrap(Self.key, passphrase: Array("right".utf8), parameters: ScryptParameters(logN: 10))
        let error = expectKeyError(.wrongPassphrase) { try wrapped.unwrap(passphrase: Array("wrong".utf8)) }
        #expect(error?.cause != nil)
    }

    @Test func codesClassifyWithoutTheirPayload() {
        // Two errors of one code with different details are one class; codes are distinct.
        #expect(EnvelopeError.corrupt("a").code == EnvelopeError.corrupt("b").code)
        #expect(EnvelopeError.unsupportedVersion(2).code == EnvelopeError.unsupportedVersion(3).code)
        let codes: [EnvelopeError.Code] = [.notAnEnvelope, .unsupportedVersion, .unsupportedAlgorithm, .keyMismatch,
                                           .authenticationFailed, .truncated, .corrupt]
        #expect(Set(codes).count == codes.count)
        #expect(Set(codes.map(\.description)).count == codes.count)
        let keyCodes: [KeyError.Code] = [.wrongPassphrase, .invalidParameters, .malformed]
        #expect(Set(keyCodes).count == keyCodes.count)
    }
}
