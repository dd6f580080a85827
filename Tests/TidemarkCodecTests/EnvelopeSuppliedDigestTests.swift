import Crypto
import Testing
import TidemarkCodec

/// `EnvelopeWriter(hashesInput: false)`: the caller hashes the plaintext itself (wal-push does it
/// on a thread of its own) and hands the checksum to `finish`; `writeFrames`/`finishFrames` give
/// the frames one by one.
@Suite("Envelope with a digest supplied by the caller", .tags(.small))
struct EnvelopeSuppliedDigestTests {
    static let key = RepositoryKey.generate()

    func encode(_ plaintext: [UInt8], digest: [UInt8], kind: PlaintextDigestKind = .sha256,
                chunkSize: Int = 256) -> (bytes: [UInt8], trailer: EnvelopeTrailer) {
        var writer = EnvelopeWriter(key: Self.key, kind: .walSegment, compression: .lz4, chunkSize: chunkSize,
                                    summary: Array("facts".utf8), batchChunks: 4, digest: kind, hashesInput: false)
        var frames = [writer.start()]
        plaintext.withUnsafeBytes { frames += writer.writeFrames($0) }
        let (tail, trailer) = writer.finishFrames(plaintextDigest: digest)
        frames += tail
        return (frames.flatMap { $0 }, trailer)
    }

    @Test(arguments: [0, 1, 256, 257, 4 * 256, 9 * 256 + 3])
    func theRightDigestRoundTrips(size: Int) throws {
        let plaintext = compressible(size / 2) + noise(size - size / 2)
        let digest = Array(SHA256.hash(data: plaintext))
        let (object, trailer) = encode(plaintext, digest: digest)
        #expect(trailer.sha256 == digest)
        let decoded = try EnvelopeReader.decode(object, key: Self.key)
        #expect(decoded.plaintext == plaintext)
        #expect(decoded.trailer == trailer)
        #expect(decoded.summary == Array("facts".utf8))
        // Byte for byte what the writer that hashes for itself produces, but for the random salt.
        #expect(decoded.trailer.sha256Hex == sha256Hex(plaintext))
    }

    @Test(arguments: [0, 1, 256, 9 * 256 + 3])
    func aSuppliedXXH3RoundTrips(size: Int) throws {
        let plaintext = compressible(size / 2) + noise(size - size / 2)
        let digest = PlaintextDigestKind.xxh3.digest(plaintext)
        let (object, trailer) = encode(plaintext, digest: digest, kind: .xxh3)
        #expect(trailer.digestKind == .xxh3 && trailer.digest == digest && trailer.sha256 == nil)
        let decoded = try EnvelopeReader.decode(object, key: Self.key)
        #expect(decoded.plaintext == plaintext && decoded.trailer == trailer)
    }

    @Test func aWrongDigestIsRejectedOnRead() throws {
        let plaintext = noise(3 * 256 + 5)
        var digest = Array(SHA256.hash(data: plaintext))
        digest[7] ^= 0x01
        let (object, _) = encode(plaintext, digest: digest)
        #expect(throws: EnvelopeError.self) { try EnvelopeReader.decode(object, key: Self.key) }
    }

    @Test func framesJoinedEqualTheSingleBufferForm() throws {
        // write()/finish() are writeFrames()/finishFrames() joined: same frame boundaries, same
        // counters; decoding each form gives the same plaintext.
        let plaintext = noise(11 * 256 + 1)
        var single = EnvelopeWriter(key: Self.key, kind: .walSegment, compression: .zstd, chunkSize: 256, batchChunks: 4)
        var object = single.start()
        object += single.write(plaintext)
        let (tail, trailer) = single.finish()
        object += tail
        #expect(try EnvelopeReader.decode(object, key: Self.key).plaintext == plaintext)
        #expect(trailer.chunkCount == 12)
        let (split, splitTrailer) = encode(plaintext, digest: Array(SHA256.hash(data: plaintext)))
        #expect(try EnvelopeReader.decode(split, key: Self.key).plaintext == plaintext)
        #expect(splitTrailer.chunkCount == 12 && splitTrailer.sha256 == trailer.sha256)
    }
}
