import Testing
import TidemarkCodec

/// Every way of changing a stored object must be caught by `EnvelopeReader.decode`.
@Suite("Envelope tamper detection", .tags(.small))
struct EnvelopeTamperTests {
    static let key = RepositoryKey.generate()
    /// 200 bytes in 64-byte chunks with a summary: header, summary frame, 4 data frames (the first
    /// compressed, the last stored), final frame.
    static let plaintext = [UInt8](repeating: 0x41, count: 100) + noise(100)
    static let object = encodeEnvelope(plaintext, key: key, kind: .walSegment, compression: .zstd,
                                       chunkSize: 64, summary: Array("start 0/3000000 end 0/3FFFFFF".utf8)).bytes

    @Test func fixtureIsWhatTheTestsAssume() throws {
        let decoded = try EnvelopeReader.decode(Self.object, key: Self.key)
        #expect(decoded.plaintext == Self.plaintext)
        let types = frames(of: Self.object).map(\.type)
        #expect(types == [2, 0, 0, 0, 0, 1])
        let last = try #require(frames(of: Self.object).last)
        #expect(last.offset + last.length == Self.object.count)
        // Both chunk modes are present: the run of "A" compresses, the random tail is stored.
        let dataLengths = frames(of: Self.object).filter { $0.type == 0 }.map(\.length)
        #expect(dataLengths[0] < 5 + 1 + 64 + 16 - 8)
        #expect(dataLengths[2] == 5 + 1 + 64 + 16)
        #expect(dataLengths[3] == 5 + 1 + 8 + 16)
    }

    /// Flips bit `bit` of every byte in turn.
    @Test(arguments: 0..<8)
    func everyBitFlipIsRejected(bit: Int) {
        var accepted: [Int] = []
        for position in Self.object.indices {
            var damaged = Self.object
            damaged[position] ^= UInt8(1) << bit
            if (try? EnvelopeReader.decode(damaged, key: Self.key)) != nil { accepted.append(position) }
        }
        #expect(accepted.isEmpty, "flipping bit \(bit) went unnoticed at offsets \(accepted)")
    }

    @Test func everyTruncationIsRejected() {
        var accepted: [Int] = []
        for length in 0..<Self.object.count {
            if (try? EnvelopeReader.decode(Array(Self.object.prefix(length)), key: Self.key)) != nil { accepted.append(length) }
        }
        #expect(accepted.isEmpty, "prefixes of length \(accepted) were accepted")
    }

    /// The same through the push decoder, fed in small pieces, as the engine drives it.
    @Test func everyTruncationIsRejectedByTheStreamingDecoder() {
        var accepted: [Int] = []
        for length in 0..<Self.object.count {
            if (try? decodeIncrementally(Array(Self.object.prefix(length)), key: Self.key, feedSize: 13)) != nil {
                accepted.append(length)
            }
        }
        #expect(accepted.isEmpty, "prefixes of length \(accepted) were accepted")
        #expect(throws: Never.self) { try decodeIncrementally(Self.object, key: Self.key, feedSize: 13) }
    }

    @Test func truncationAtAFrameBoundaryIsReportedAsTruncated() throws {
        // Dropping the final frame leaves a well-formed but incomplete object.
        let last = try #require(frames(of: Self.object).last)
        expectEnvelopeError(.truncated) {
            try EnvelopeReader.decode(Array(Self.object.prefix(last.offset)), key: Self.key)
        }
        expectEnvelopeError(.truncated) {
            try EnvelopeReader.decode(Array(Self.object.prefix(40)), key: Self.key)
        }
    }

    @Test(arguments: [(0, 1), (1, 2), (0, 3), (2, 3)])
    func swappedDataFramesAreRejected(first: Int, second: Int) throws {
        let data = frames(of: Self.object).filter { $0.type == 0 }
        let a = data[first], b = data[second]
        var swapped = Array(Self.object[..<a.offset])
        swapped += Self.object[b.offset..<(b.offset + b.length)]
        swapped += Self.object[(a.offset + a.length)..<b.offset]
        swapped += Self.object[a.offset..<(a.offset + a.length)]
        swapped += Self.object[(b.offset + b.length)...]
        #expect(swapped.count == Self.object.count)
        #expect(swapped != Self.object)
        // Caught by the nonce counter at the first moved frame, before any content check.
        expectEnvelopeError(.authenticationFailed, detail: "chunk \(first)") {
            try EnvelopeReader.decode(swapped, key: Self.key)
        }
    }

    @Test func droppedDataFrameIsRejected() throws {
        let data = frames(of: Self.object).filter { $0.type == 0 }
        var object = Self.object
        object.removeSubrange(data[1].offset..<(data[1].offset + data[1].length))
        expectEnvelopeError(.authenticationFailed, detail: "chunk 1") { try EnvelopeReader.decode(object, key: Self.key) }
    }

    @Test func droppedLastDataFrameIsRejected() throws {
        // The final frame is sealed with counter n; after n − 1 chunks it does not open.
        let data = frames(of: Self.object).filter { $0.type == 0 }
        let last = try #require(data.last)
        var object = Self.object
        object.removeSubrange(last.offset..<(last.offset + last.length))
        expectEnvelopeError(.authenticationFailed, detail: "the trailer") { try EnvelopeReader.decode(object, key: Self.key) }
    }

    @Test func duplicatedDataFrameIsRejected() throws {
        let data = frames(of: Self.object).filter { $0.type == 0 }
        var object = Self.object
        object.insert(contentsOf: Self.object[data[1].offset..<(data[1].offset + data[1].length)], at: data[2].offset)
        expectEnvelopeError(.authenticationFailed, detail: "chunk 2") { try EnvelopeReader.decode(object, key: Self.key) }
    }

    @Test(arguments: [[0], [0, 0, 0, 0, 0], Array("TIDEMARK".utf8)] as [[UInt8]])
    func trailingBytesAreRejected(extra: [UInt8]) {
        expectEnvelopeError(.corrupt, detail: "bytes after the trailer") {
            try EnvelopeReader.decode(Self.object + extra, key: Self.key)
        }
        for feedSize in [1, 64, 10_000] {
            expectEnvelopeError(.corrupt, detail: "bytes after the trailer") {
                try decodeIncrementally(Self.object + extra, key: Self.key, feedSize: feedSize)
            }
        }
    }

    @Test func appendedCopyOfFinalFrameIsRejected() throws {
        let last = try #require(frames(of: Self.object).last)
        let object = Self.object + Self.object[last.offset...]
        expectEnvelopeError(.corrupt, detail: "bytes after the trailer") {
            try EnvelopeReader.decode(object, key: Self.key)
        }
    }

    @Test func wrongRepositoryKeyIsAKeyMismatch() {
        let other = RepositoryKey.generate()
        let error = expectEnvelopeError(.keyMismatch) { try EnvelopeReader.decode(Self.object, key: other) }
        #expect(error?.expectedKeyID == other.idHex)
        #expect(error?.foundKeyID == Self.key.idHex)
    }

    @Test func sameKeyIDWithDifferentBytesFailsAuthentication() {
        expectEnvelopeError(.authenticationFailed, detail: "the summary") {
            try EnvelopeReader.decode(Self.object, key: impostor(of: Self.key))
        }
        // Without a summary, the first data chunk is the first thing that fails.
        let plain = encodeEnvelope(noise(10), key: Self.key, kind: .generic, compression: .none).bytes
        expectEnvelopeError(.authenticationFailed, detail: "chunk 0") {
            try EnvelopeReader.decode(plain, key: impostor(of: Self.key))
        }
    }

    /// Frames from one object are sealed under that object's key (HKDF salt), so they cannot be
    /// moved into another object written with the same repository key and the same layout.
    @Test func framesCannotBeSplicedBetweenObjects() throws {
        let other = encodeEnvelope(Self.plaintext, key: Self.key, kind: .walSegment, compression: .zstd,
                                   chunkSize: 64, summary: Array("start 0/3000000 end 0/3FFFFFF".utf8)).bytes
        #expect(other.count == Self.object.count)
        // The other object's header with this object's frames.
        let spliced = Array(other.prefix(80)) + Self.object.dropFirst(80)
        expectEnvelopeError(.authenticationFailed, detail: "the summary") {
            try EnvelopeReader.decode(spliced, key: Self.key)
        }
        // One data frame replaced by the same-position frame of the other object.
        let data = frames(of: Self.object).filter { $0.type == 0 }
        var mixed = Self.object
        let range = data[2].offset..<(data[2].offset + data[2].length)
        mixed.replaceSubrange(range, with: other[range])
        expectEnvelopeError(.authenticationFailed, detail: "chunk 2") {
            try EnvelopeReader.decode(mixed, key: Self.key)
        }
    }

    @Test func headerFieldsAreAuthenticated() throws {
        // Rewriting the header to say "no summary, gzip, kind generic" keeps it parseable, but the
        // frames were sealed with the original header as associated data.
        var header = try EnvelopeHeader(parsing: Array(Self.object.prefix(80)))
        header.kind = .generic
        let relabelled = header.encoded() + Self.object.dropFirst(80)
        expectEnvelopeError(.authenticationFailed, detail: "the summary") {
            try EnvelopeReader.decode(relabelled, key: Self.key)
        }
        header = try EnvelopeHeader(parsing: Array(Self.object.prefix(80)))
        header.compression = .gzip
        #expect(throws: EnvelopeError.self) {
            try EnvelopeReader.decode(header.encoded() + Self.object.dropFirst(80), key: Self.key)
        }
    }

    @Test func notAnEnvelope() {
        expectEnvelopeError(.notAnEnvelope) {
            try EnvelopeReader.decode(Array("PGDMP this is a pg_dump file, not ours".utf8) + [UInt8](repeating: 0, count: 80), key: Self.key)
        }
        expectEnvelopeError(.truncated) { try EnvelopeReader.decode([], key: Self.key) }
    }

    @Test func unsupportedVersionAndAlgorithm() {
        var newer = Self.object
        newer[8] = 2
        let error = expectEnvelopeError(.unsupportedVersion) { try EnvelopeReader.decode(newer, key: Self.key) }
        #expect(error?.version == 2)
        var unknownCompression = Self.object
        unknownCompression[9] = 9
        expectEnvelopeError(.unsupportedAlgorithm, detail: "compression id 9") {
            try EnvelopeReader.decode(unknownCompression, key: Self.key)
        }
        var unknownCipher = Self.object
        unknownCipher[10] = 2
        expectEnvelopeError(.unsupportedAlgorithm, detail: "cipher id 2") {
            try EnvelopeReader.decode(unknownCipher, key: Self.key)
        }
    }
}
