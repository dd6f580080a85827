import Crypto
import Testing
import TidemarkCodec

/// XXH3-128, the plaintext checksum of WAL objects (docs/format.md): libxxhash against published
/// values, and the envelope carrying it (header flag bit 1) beside the SHA-256 of older objects.
@Suite("Plaintext digest: XXH3-128 and SHA-256 objects", .tags(.small))
struct PlaintextDigestTests {
    static let key = RepositoryKey.generate()

    /// Published XXH3-128 values (canonical form, as `xxh128sum` and python-xxhash's
    /// `xxh3_128_hexdigest` print them), seed 0.
    @Test(arguments: [
        ("", "99aa06d3014798d86001c324468d497f"),
        ("a", "a96faf705af16834e6c632b61e964e1f"),
        ("ClickHouse", "14c27b7bef95d36fecf5520ca2daf030"),
    ])
    func knownVectors(input: String, expected: String) {
        let bytes = Array(input.utf8)
        #expect(hexString(PlaintextDigestKind.xxh3.digest(bytes)) == expected)
        #expect(hexString(bytes.withUnsafeBytes { XXH3Hasher.hash($0) }) == expected)
    }

    @Test func streamingEqualsOneShot() {
        // Past XXH3's 1 KiB stripes and 240-byte short path, fed in uneven pieces.
        let bytes = noise(3 << 20 | 17)
        let hasher = XXH3Hasher()
        var offset = 0
        var step = 1
        while offset < bytes.count {
            let end = min(bytes.count, offset + step)
            bytes[offset..<end].withUnsafeBytes { hasher.update($0) }
            offset = end
            step = step * 7 % 100_003 + 1
        }
        #expect(hasher.finalize() == bytes.withUnsafeBytes { XXH3Hasher.hash($0) })
    }

    @Test(arguments: [0, 1, 1000, 5 * 1024 + 3])
    func anXXH3ObjectRoundTrips(size: Int) throws {
        let plaintext = compressible(size / 2) + noise(size - size / 2)
        var writer = EnvelopeWriter(key: Self.key, kind: .walSegment, compression: .zstd, chunkSize: 1024,
                                    summary: Array("s".utf8), batchChunks: 2, digest: .xxh3)
        var object = writer.start()
        object += writer.write(plaintext)
        let (tail, trailer) = writer.finish()
        object += tail
        #expect(object[68] == EnvelopeHeader.flagXXH3)
        #expect(trailer.digestKind == .xxh3 && trailer.digest == PlaintextDigestKind.xxh3.digest(plaintext))
        let decoded = try EnvelopeReader.decode(object, key: Self.key)
        #expect(decoded.plaintext == plaintext)
        #expect(decoded.trailer == trailer && decoded.trailer.sha256 == nil)
        // The trailer check (wal-push's whole-object proof) reads the same checksum.
        let checked = try EnvelopeTrailerCheck.trailer(header: object, tail: Array(object.suffix(EnvelopeTrailerCheck.finalFrameSize)),
                                                       expectedLength: UInt64(size), key: Self.key)
        #expect(checked == trailer)
    }

    /// A codec bug: the frames are sealed (GCM is happy) but the bytes they decompress to are
    /// not the plaintext the checksum was taken of. One flipped bit is caught after decoding.
    @Test func aFlippedPlaintextBitIsCaught() throws {
        let plaintext = noise(4000)
        var flipped = plaintext
        flipped[2345] ^= 0x10
        var writer = EnvelopeWriter(key: Self.key, kind: .walSegment, compression: .lz4, chunkSize: 1024,
                                    digest: .xxh3, hashesInput: false)
        var object = writer.start()
        object += writer.write(flipped)
        object += writer.finish(plaintextDigest: PlaintextDigestKind.xxh3.digest(plaintext)).bytes
        #expect {
            try EnvelopeReader.decode(object, key: Self.key)
        } throws: { error in
            guard let e = error as? EnvelopeError, e.code == .corrupt else { return false }
            return e.message.contains("XXH3-128")
        }
    }

    /// Both digest flags at once is not a format: refused when the header is parsed.
    @Test func bothDigestFlagsAreRefused() {
        var header = EnvelopeHeader(compression: .none, kind: .walSegment, chunkSize: 1024, keyID: Self.key.id,
                                    salt: noise(32), summaryFrameLength: 0)
        header.flags = EnvelopeHeader.flagNoDigest | EnvelopeHeader.flagXXH3
        #expect(throws: EnvelopeError.self) { try EnvelopeHeader(parsing: header.encoded()) }
    }

    /// An object written the way every object was before XXH3-128 (flags 0, the trailer holding
    /// the SHA-256), built here from docs/format.md with swift-crypto alone, not with
    /// EnvelopeWriter: it still reads, and its checksum is still checked.
    @Test func anOldSHA256ObjectStillReads() throws {
        let keyBytes = noise(32, seed: 7)
        let key = RepositoryKey(id: noise(16, seed: 8), keyBytes: keyBytes)
        let plaintext = noise(2500, seed: 9)
        let object = OldFormatObject.build(plaintext, keyID: key.id, keyBytes: keyBytes, chunkSize: 1000,
                                           digest: Array(SHA256.hash(data: plaintext)))
        #expect(object[68] == 0)
        let decoded = try EnvelopeReader.decode(object, key: key)
        #expect(decoded.plaintext == plaintext)
        #expect(decoded.trailer.digestKind == .sha256 && decoded.trailer.sha256 == Array(SHA256.hash(data: plaintext)))
        // A wrong SHA-256 in such an object is still caught.
        var wrong = Array(SHA256.hash(data: plaintext))
        wrong[0] ^= 1
        let bad = OldFormatObject.build(plaintext, keyID: key.id, keyBytes: keyBytes, chunkSize: 1000, digest: wrong)
        #expect(throws: EnvelopeError.self) { try EnvelopeReader.decode(bad, key: key) }
    }
}

/// The version 1 envelope as docs/format.md describes it, no compression, no summary.
enum OldFormatObject {
    static func build(_ plaintext: [UInt8], keyID: [UInt8], keyBytes: [UInt8], chunkSize: Int, digest: [UInt8]) -> [UInt8] {
        let salt = noise(32, seed: 10)
        var header = Array("TIDEMARK".utf8) + [1, 0, 1, 1]  // version, compression none, AES-256-GCM, WAL segment
        header += le(UInt32(chunkSize)) + keyID + salt + le(UInt32(0)) + [0] + [UInt8](repeating: 0, count: 11)
        let objectKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: keyBytes), salt: salt,
                                               info: Array("tidemark/object/v1".utf8), outputByteCount: 32)
        var out = header
        var counter: UInt64 = 0
        var offset = 0
        while offset < plaintext.count {
            let end = min(plaintext.count, offset + chunkSize)
            out += frame(type: 0, [0] + plaintext[offset..<end], key: objectKey, aad: header, counter: counter)
            counter += 1
            offset = end
        }
        out += frame(type: 1, le(UInt64(plaintext.count)) + le(counter) + digest, key: objectKey, aad: header, counter: counter)
        return out
    }

    static func frame(type: UInt8, _ plain: [UInt8], key: SymmetricKey, aad: [UInt8], counter: UInt64) -> [UInt8] {
        let nonceBytes = (0..<8).map { UInt8(truncatingIfNeeded: counter >> (56 - 8 * $0)) } + [type, 0, 0, 0]
        guard let nonce = try? AES.GCM.Nonce(data: nonceBytes),
              let box = try? AES.GCM.seal(plain, using: key, nonce: nonce, authenticating: aad) else { return [] }
        return [type] + le(UInt32(box.ciphertext.count + 16)) + Array(box.ciphertext) + Array(box.tag)
    }

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }
    }
}
