import Testing
import TidemarkCodec

/// `EnvelopeRangeReader`'s frame API (file restores keep frames shared by neighbouring chunks):
/// frames read one at a time or in runs give exactly the plaintext a direct ranged read gives,
/// and a frame moved, altered or cut short is refused.
@Suite("Envelope: ranged reads by frame")
struct EnvelopeRangeReaderTests {
    static let key = RepositoryKey.generate()
    static let chunkSize = 1000
    /// 7 full frames and a short last one.
    static let plaintext = noise(7 * chunkSize + 321, seed: 16)
    static let object = encodeEnvelope(plaintext, key: key, kind: .filesPack, compression: .none, chunkSize: chunkSize).bytes

    static func reader() throws -> EnvelopeRangeReader {
        try EnvelopeRangeReader(headerBytes: Array(object.prefix(EnvelopeHeader.size)), key: key)
    }

    static func stored(_ r: Range<Int64>) -> [UInt8] {
        Array(object[Int(r.lowerBound)..<min(object.count, Int(r.upperBound))])
    }

    @Test func framesReadAloneOrInRunsGiveEveryRangeExactly() throws {
        let reader = try Self.reader()
        let all = try reader.frames(0...7, from: Self.stored(reader.storedRange(frames: 0...7)))
        #expect(all.count == 8)
        #expect(all.dropLast().allSatisfy { $0.count == Self.chunkSize })
        #expect(all.flatMap { $0 } == Self.plaintext)
        let single = try (0...7).map { i in try reader.frames(Int64(i)...Int64(i), from: Self.stored(reader.storedRange(frames: Int64(i)...Int64(i))))[0] }
        #expect(single == all)
        let ranges: [Range<Int64>] = [0..<1, 999..<1001, 0..<7321, 1500..<4500, 7000..<7321, 7320..<7321, 2000..<3000, 123..<124]
        for range in ranges {
            let indices = reader.frameIndices(covering: range)
            let expected = Array(Self.plaintext[Int(range.lowerBound)..<Int(range.upperBound)])
            #expect(try reader.plaintext(range, frames: Array(all[Int(indices.lowerBound)...Int(indices.upperBound)])) == expected)
            #expect(try reader.plaintext(range, from: Self.stored(reader.storedRange(covering: range))) == expected)
        }
    }

    @Test func aFrameMovedAlteredOrShortIsRefused() throws {
        let reader = try Self.reader()
        // Frame 3's bytes presented as frame 2: its counter is in the nonce.
        let three = Self.stored(reader.storedRange(frames: 3...3))
        #expect(throws: EnvelopeError.self) { try reader.frames(2...2, from: three) }
        var flipped = three
        flipped[flipped.count / 2] ^= 0x10
        #expect(throws: EnvelopeError.self) { try reader.frames(3...3, from: flipped) }
        // The short last frame cannot stand in the middle of a run, nor serve a range past its end.
        let last = try reader.frames(7...7, from: Self.stored(reader.storedRange(frames: 7...7)))[0]
        let six = try reader.frames(6...6, from: Self.stored(reader.storedRange(frames: 6...6)))[0]
        #expect(throws: EnvelopeError.self) { try reader.plaintext(6500..<7100, frames: [last, last]) }
        #expect(throws: EnvelopeError.self) { try reader.plaintext(7000..<7400, frames: [last]) }
        #expect(throws: EnvelopeError.self) { try reader.plaintext(5500..<6500, frames: [six]) }
        #expect(try reader.plaintext(6500..<7100, frames: [six, last]) == Array(Self.plaintext[6500..<7100]))
    }
}
