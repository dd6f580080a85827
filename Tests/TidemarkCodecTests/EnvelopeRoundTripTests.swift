import Crypto
import Testing
import TidemarkCodec

@Suite("Envelope round trip", .tags(.small))
struct EnvelopeRoundTripTests {
    static let key = RepositoryKey.generate()
    static let chunkSize = 256

    enum Content: String, CaseIterable, CustomTestStringConvertible {
        case random, text
        var testDescription: String { rawValue }
        func bytes(_ count: Int) -> [UInt8] { self == .random ? noise(count) : compressible(count) }
    }

    // 0, 1, chunk − 1, one chunk, chunk + 1, three chunks, more than one writer batch (16 chunks).
    @Test(arguments: CompressionAlgorithm.allCases, [0, 1, 255, 256, 257, 768, 40 * 256 + 17])
    func roundTrip(algorithm: CompressionAlgorithm, size: Int) throws {
        for content in Content.allCases {
            for summary in [nil, Array("summary".utf8), [UInt8]()] as [[UInt8]?] {
                let plaintext = content.bytes(size)
                let (object, trailer) = encodeEnvelope(plaintext, key: Self.key, kind: .walSegment, compression: algorithm,
                                                       chunkSize: Self.chunkSize, summary: summary)
                let decoded = try EnvelopeReader.decode(object, key: Self.key)
                #expect(decoded.plaintext == plaintext, "\(content) summary=\(String(describing: summary))")
                #expect(decoded.summary == summary)
                #expect(decoded.trailer == trailer)
                #expect(trailer.length == UInt64(size))
                #expect(trailer.chunkCount == UInt64((size + Self.chunkSize - 1) / Self.chunkSize))
                #expect(trailer.sha256Hex == sha256Hex(plaintext))
            }
        }
    }

    @Test(arguments: CompressionAlgorithm.allCases)
    func manySmallChunks(algorithm: CompressionAlgorithm) throws {
        // More chunks than one writer batch (16) so batches and counters carry over.
        let plaintext = compressible(3000) + noise(3000) + compressible(1234)
        let (object, trailer) = encodeEnvelope(plaintext, key: Self.key, kind: .backupData, compression: algorithm,
                                               chunkSize: 64, summary: Array("lsn 0/3000000..0/4000000".utf8))
        #expect(trailer.chunkCount == UInt64((plaintext.count + 63) / 64))
        let decoded = try EnvelopeReader.decode(object, key: Self.key)
        #expect(decoded.plaintext == plaintext)
        #expect(decoded.summary == Array("lsn 0/3000000..0/4000000".utf8))
    }

    @Test(arguments: CompressionAlgorithm.allCases)
    func compressionShrinksCompressibleData(algorithm: CompressionAlgorithm) {
        let plaintext = compressible(64 * 1024)
        let (object, _) = encodeEnvelope(plaintext, key: Self.key, kind: .generic, compression: algorithm, chunkSize: 16 * 1024)
        if algorithm == .none {
            #expect(object.count > plaintext.count)
        } else {
            #expect(object.count < plaintext.count / 4, "\(algorithm) produced \(object.count) bytes")
        }
    }

    @Test func randomDataIsStoredNotExpanded() {
        // Incompressible chunks fall back to mode 0, costing 1 + 5 + 16 bytes per chunk.
        let plaintext = noise(4 * 1024)
        for algorithm in CompressionAlgorithm.allCases {
            let (object, _) = encodeEnvelope(plaintext, key: Self.key, kind: .generic, compression: algorithm, chunkSize: 1024)
            let overhead = 80 + 4 * (1 + 5 + 16) + (5 + 48 + 16)
            #expect(object.count == plaintext.count + overhead, "\(algorithm)")
        }
    }

    @Test func headerRecordsWhatWasWritten() throws {
        let summary = [UInt8](repeating: 7, count: 33)
        let (object, _) = encodeEnvelope(compressible(500), key: Self.key, kind: .timelineHistory, compression: .zstd,
                                         chunkSize: 128, summary: summary)
        let header = try EnvelopeHeader(parsing: Array(object.prefix(80)))
        #expect(Array(object.prefix(8)) == Array("TIDEMARK".utf8))
        #expect(header.version == 1)
        #expect(header.compression == .zstd)
        #expect(header.kind == .timelineHistory)
        #expect(header.chunkSize == 128)
        #expect(header.keyID == Self.key.id)
        #expect(header.salt.count == 32)
        #expect(header.summaryFrameLength == 5 + 33 + 16)
        #expect(header.encoded() == Array(object.prefix(80)))
    }

    /// The planner reads a WAL summary with a ranged GET of the first 80 + summaryFrameLength bytes.
    @Test func summaryIsReadableFromAPrefix() throws {
        let summary = Array("first commit 2024-05-01T12:00:00Z".utf8)
        let (object, _) = encodeEnvelope(noise(10_000), key: Self.key, kind: .walSegment, compression: .lz4,
                                         chunkSize: 1024, summary: summary)
        let header = try EnvelopeHeader(parsing: Array(object.prefix(80)))
        let prefix = Array(object.prefix(80 + header.summaryFrameLength))
        var decoder = EnvelopeDecoder(key: Self.key)
        decoder.feed(prefix)
        #expect(try decoder.next() == .needInput)
        #expect(decoder.summary == summary)
        #expect(decoder.header == header)
        // One byte short of the summary frame: not yet available, and not an error.
        var short = EnvelopeDecoder(key: Self.key)
        short.feed(Array(prefix.dropLast()))
        #expect(try short.next() == .needInput)
        #expect(short.summary == nil)
        expectEnvelopeError(.truncated) { try short.endOfInput() }
    }

    @Test(arguments: [1, 7, 80, 85, 1000])
    func decoderAcceptsAnyFeedSize(feedSize: Int) throws {
        let plaintext = compressible(3000) + noise(700)
        let summary = Array("s".utf8)
        let (object, trailer) = encodeEnvelope(plaintext, key: Self.key, kind: .walSegment, compression: .zstd,
                                               chunkSize: 512, summary: summary)
        let (out, finished) = try decodeIncrementally(object, key: Self.key, feedSize: feedSize)
        #expect(out == plaintext)
        #expect(finished == trailer)
    }

    @Test func streamingWriterMatchesWholeObjectReader() throws {
        var writer = EnvelopeWriter(key: Self.key, kind: .backupData, compression: .gzip, chunkSize: 100, batchChunks: 3)
        let plaintext = compressible(2000) + noise(1500)
        var object = writer.start()
        // Uneven writes, crossing chunk and batch boundaries.
        var offset = 0
        for step in [1, 99, 100, 101, 299, 300, 301, 7, 1000] where offset < plaintext.count {
            let end = min(plaintext.count, offset + step)
            object += writer.write(Array(plaintext[offset..<end]))
            offset = end
        }
        object += writer.write(Array(plaintext[offset...]))
        let (tail, trailer) = writer.finish()
        object += tail
        #expect(trailer.chunkCount == 35)
        let decoded = try EnvelopeReader.decode(object, key: Self.key)
        #expect(decoded.plaintext == plaintext)
        #expect(decoded.trailer == trailer)
        #expect(decoded.summary == nil)
    }

    @Test func streamingReaderYieldsChunks() throws {
        let plaintext = noise(1000)
        let (object, _) = encodeEnvelope(plaintext, key: Self.key, kind: .generic, compression: .none, chunkSize: 300)
        var reader = try EnvelopeReader(source: ArrayByteSource(object), key: Self.key)
        var sizes: [Int] = []
        while let chunk = try reader.next() { sizes.append(chunk.count) }
        #expect(sizes == [300, 300, 300, 100])
        #expect(reader.trailer?.length == 1000)
        #expect(try reader.next() == nil)
    }

    @Test func sameInputGivesDifferentObjects() {
        // A fresh salt per object means a fresh object key, so equal plaintexts do not show.
        let a = encodeEnvelope(compressible(100), key: Self.key, kind: .generic, compression: .none).bytes
        let b = encodeEnvelope(compressible(100), key: Self.key, kind: .generic, compression: .none).bytes
        #expect(a.count == b.count)
        #expect(a != b)
        #expect(a[32..<64] != b[32..<64])
    }
}

func sha256Hex(_ bytes: [UInt8]) -> String {
    SHA256.hash(data: bytes).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}
