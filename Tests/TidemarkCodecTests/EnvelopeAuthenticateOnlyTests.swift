import Testing
import TidemarkCodec

/// `EnvelopeDecoder.authenticateOnly` (verify's sample): every frame's tag, the count and the
/// length are checked without decompressing; every single-bit flip still fails.
@Suite("Envelope: authenticate only")
struct EnvelopeAuthenticateOnlyTests {
    static let key = RepositoryKey.generate()

    static func decode(_ bytes: [UInt8]) throws -> (EnvelopeTrailer, Int) {
        var decoder = EnvelopeDecoder(key: key)
        decoder.authenticateOnly = true
        decoder.feed(bytes)
        var emitted = 0
        while true {
            switch try decoder.next() {
            case .chunk(let c): emitted += c.count
            case .finished(let t):
                try decoder.endOfInput()
                return (t, emitted)
            case .needInput:
                try decoder.endOfInput()
                throw EnvelopeError.truncated
            }
        }
    }

    @Test(arguments: [CompressionAlgorithm.none, .lz4, .zstd])
    func aGoodObjectAuthenticatesWithItsLengthAndCount(_ compression: CompressionAlgorithm) throws {
        // Compressible and incompressible chunks, a short last one.
        let plain = [UInt8](repeating: 7, count: 10_000) + randomBytes(5_000) + [1, 2, 3]
        let (bytes, trailer) = encodeEnvelope(plain, key: Self.key, kind: .walSegment, compression: compression, chunkSize: 4096,
                                              summary: Array("s".utf8))
        let (got, emitted) = try Self.decode(bytes)
        #expect(got == trailer && got.length == UInt64(plain.count) && got.chunkCount == 4)
        #expect(emitted == 0, "authenticate-only hands out no plaintext")
    }

    @Test func everyBitFlipAndTruncationFails() throws {
        let plain = [UInt8](repeating: 1, count: 3_000) + randomBytes(1_000)
        let (bytes, _) = encodeEnvelope(plain, key: Self.key, kind: .backupData, compression: .lz4, chunkSize: 1024)
        for i in 0..<bytes.count {
            for bit in [0, 7] {
                var damaged = bytes
                damaged[i] ^= UInt8(1 << bit)
                #expect(throws: (any Error).self, "a flip of bit \(bit) at \(i) went unnoticed") { _ = try Self.decode(damaged) }
            }
        }
        for cut in stride(from: 0, to: bytes.count, by: 7) {
            #expect(throws: (any Error).self, "a cut at \(cut) went unnoticed") { _ = try Self.decode(Array(bytes[0..<cut])) }
        }
    }
}
