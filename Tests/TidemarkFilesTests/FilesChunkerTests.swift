import Testing
import TidemarkTesting
@testable import TidemarkFiles

@Suite("Files chunker")
struct FilesChunkerTests {
    static let secret = FilesSecret(bytes: (0..<32).map { UInt8($0) })

    static func random(_ count: Int, seed: UInt64) -> [UInt8] {
        var g = SeededGenerator(seed: seed)
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { p in
            let words = p.bindMemory(to: UInt64.self)
            for i in 0..<words.count { words[i] = g.next() }
        }
        return out
    }

    /// Small sizes (4 KiB / 8 KiB / 64 KiB) so tests see hundreds of chunks in a few MiB.
    static func small(_ secret: FilesSecret = secret) -> FilesChunker {
        FilesChunker(gear: secret.gearTable, minSize: 4 << 10, averageSize: 8 << 10, maxSize: 64 << 10)
    }

    static func boundaries(_ lengths: [Int]) -> [Int] {
        var at = 0
        return lengths.map { at += $0; return at }
    }

    @Test func theSameBytesGiveTheSameChunksHoweverTheyAreFed() {
        let data = Self.random(3 << 20, seed: 1)
        let whole = FilesChunker.lengths(of: data, chunker: Self.small())
        #expect(whole.reduce(0, +) == data.count)
        #expect(whole == FilesChunker.lengths(of: data, chunker: Self.small()))
        // Fed in uneven buffers: the same cut points.
        var chunker = Self.small()
        var cuts: [Int] = []
        var g = SeededGenerator(seed: 2)
        var offset = 0
        var chunkStart = 0
        data.withUnsafeBytes { all in
            while offset < all.count {
                let n = min(all.count - offset, Int.random(in: 1...20_000, using: &g))
                let buffer = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + n)])
                var start = 0
                while let cut = chunker.nextCut(in: buffer, from: start) {
                    cuts.append(offset + cut - chunkStart)
                    chunkStart = offset + cut
                    start = cut
                }
                offset += n
            }
        }
        if chunkStart < data.count { cuts.append(data.count - chunkStart) }
        #expect(cuts == whole)
    }

    @Test func chunksRespectTheMinimumAndMaximum() {
        let lengths = FilesChunker.lengths(of: Self.random(4 << 20, seed: 3), chunker: Self.small())
        #expect(lengths.dropLast().allSatisfy { $0 >= 4 << 10 && $0 <= 64 << 10 })
        // Content without cut points (zeros) is cut at the maximum.
        let zeros = FilesChunker.lengths(of: [UInt8](repeating: 0, count: 20 << 20), chunker: FilesChunker(secret: Self.secret))
        #expect(zeros.allSatisfy { $0 <= FilesChunker.maxSize })
        #expect(zeros.count >= 3)
        // A file below the minimum is one chunk.
        #expect(FilesChunker.lengths(of: Self.random(300 << 10, seed: 4), chunker: FilesChunker(secret: Self.secret)) == [300 << 10])
    }

    @Test func theAverageIsNearOneMebibyteOnRandomData() {
        let data = Self.random(96 << 20, seed: 5)
        let lengths = FilesChunker.lengths(of: data, chunker: FilesChunker(secret: Self.secret))
        let mean = Double(data.count) / Double(lengths.count)
        #expect(lengths.dropLast().allSatisfy { $0 >= FilesChunker.minSize && $0 <= FilesChunker.maxSize })
        #expect(mean > 0.9 * Double(1 << 20) && mean < 1.5 * Double(1 << 20), "mean chunk \(mean)")
        // The scaled chunker: the same shape.
        let small = FilesChunker.lengths(of: Self.random(8 << 20, seed: 6), chunker: Self.small())
        let smallMean = Double(8 << 20) / Double(small.count)
        #expect(smallMean > 0.9 * 8192 && smallMean < 1.5 * 8192, "mean chunk \(smallMean)")
    }

    @Test func aByteInsertedAtTheStartMovesAtMostTwoBoundaries() {
        for seed: UInt64 in 10..<14 {
            let data = Self.random(4 << 20, seed: seed)
            let before = Set(Self.boundaries(FilesChunker.lengths(of: data, chunker: Self.small())))
            let after = Self.boundaries(FilesChunker.lengths(of: [0x5A] + data, chunker: Self.small())).map { $0 - 1 }
            let moved = before.subtracting(after)
            #expect(before.count > 300)
            #expect(moved.count <= 2, "seed \(seed): \(moved.count) of \(before.count) boundaries moved")
        }
    }

    @Test func anotherSecretGivesOtherBoundaries() {
        let data = Self.random(2 << 20, seed: 20)
        let a = Self.boundaries(FilesChunker.lengths(of: data, chunker: Self.small()))
        let b = Self.boundaries(FilesChunker.lengths(of: data, chunker: Self.small(FilesSecret(bytes: [UInt8](repeating: 7, count: 32)))))
        #expect(Set(a).intersection(b).count < a.count / 4)
    }

    @Test func theGearTableAndIdsComeFromTheSecret() {
        let other = FilesSecret(bytes: [UInt8](repeating: 9, count: 32))
        #expect(Self.secret.gearTable != other.gearTable)
        #expect(Set(Self.secret.gearTable).count == 256)
        #expect(Self.secret.chunkID(of: [1, 2, 3]) == FilesSecret(bytes: Self.secret.bytes).chunkID(of: [1, 2, 3]))
        #expect(Self.secret.chunkID(of: [1, 2, 3]) != other.chunkID(of: [1, 2, 3]))
        #expect(Self.secret.chunkID(of: [1, 2, 3]) != Self.secret.chunkID(of: [1, 2, 4]))
    }
}
