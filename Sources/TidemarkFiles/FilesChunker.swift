/// Keyed content-defined chunking: FastCDC (Xia et al., "FastCDC: a Fast and Efficient
/// Content-Defined Chunking Approach for Data Deduplication", USENIX ATC 2016).
///
/// What this follows from the paper (written from its description, not from any code):
/// - the Gear rolling hash: `h = (h << 1) + gear[byte]`, one shift, one add and one table load
///   per byte; bit k of `h` depends on the last k+1 bytes only, so the cut test uses the high
///   bits (a window of at least 64 − 22 = 42 bytes), as the paper's "padded" masks do;
/// - sub-minimum cut-point skipping: the first `minSize` bytes of a chunk are not hashed at all
///   (hashing restarts from zero at `minSize`), which is where most of the speed comes from;
/// - normalized chunking, level 2 ("NC-2"): up to `averageSize` a cut needs `log2(avg) + 2` zero
///   bits (harder), past it `log2(avg) − 2` (easier), which pulls chunk sizes towards the
///   average; a chunk is cut at `maxSize` regardless.
/// What differs: the Gear table is not a published constant but 256 words derived from the
/// stanza's files secret (`FilesSecret.gearTable`), so boundaries say nothing about content to
/// anyone without it (restic's polynomial is per-repository for the same reason). We do not use
/// the 2020 paper's "two bytes per iteration" variant.
///
/// Sizes: 512 KiB / 1 MiB / 8 MiB. A file shorter than the minimum is one chunk; the last chunk
/// of a file may be shorter than the minimum. On random data the mean chunk is about 1.2 MiB
/// (the minimum skip adds to it; FilesChunkerTests measures it).
///
/// The state between calls is two words (bytes into the current chunk, the hash), so the
/// chunker is streaming: feed it buffers of any size and split points never depend on how the
/// stream was cut into buffers.
public struct FilesChunker: Sendable {
    public static let minSize = 512 << 10
    public static let averageSize = 1 << 20
    public static let maxSize = 8 << 20

    public let minSize: Int
    public let averageSize: Int
    public let maxSize: Int
    private let maskS: UInt64
    private let maskL: UInt64
    private let gear: GearTable
    /// Bytes of the current chunk seen so far.
    public private(set) var pending = 0
    private var hash: UInt64 = 0

    /// A chunker with the gear table derived from the stanza's secret.
    public init(secret: FilesSecret) {
        self.init(gear: secret.gearTable)
    }

    /// Any sizes (powers of two for `averageSize`); tests use small ones.
    public init(gear: [UInt64], minSize: Int = FilesChunker.minSize, averageSize: Int = FilesChunker.averageSize,
                maxSize: Int = FilesChunker.maxSize) {
        precondition(gear.count == 256 && minSize > 0 && minSize <= averageSize && averageSize <= maxSize)
        precondition(averageSize & (averageSize - 1) == 0, "the average chunk size must be a power of two")
        self.minSize = minSize
        self.averageSize = averageSize
        self.maxSize = maxSize
        let bits = averageSize.trailingZeroBitCount
        maskS = Self.highMask(bits: bits + 2)
        maskL = Self.highMask(bits: max(1, bits - 2))
        self.gear = GearTable(gear)
    }

    /// `bits` one bits at the top of the word.
    static func highMask(bits: Int) -> UInt64 { bits >= 64 ? ~0 : ~(~UInt64(0) >> UInt64(bits)) }

    /// Scans `buffer` from `start`; returns the index just past the end of the current chunk if
    /// it ends inside the buffer (the chunker is then at the start of the next chunk), or nil
    /// when the whole buffer belongs to the current chunk (call again with the next buffer).
    /// No allocation, no bounds checks in the loop.
    public mutating func nextCut(in buffer: UnsafeRawBufferPointer, from start: Int = 0) -> Int? {
        guard start < buffer.count, let base = buffer.baseAddress else { return nil }
        let p = base.assumingMemoryBound(to: UInt8.self)
        let g = gear.words
        var i = start
        let end = buffer.count
        var n = pending
        var h = hash
        // Sub-minimum skip: not hashed.
        if n < minSize {
            let skip = min(minSize - n, end - i)
            i += skip
            n += skip
            h = 0
            if n < minSize {
                pending = n
                hash = 0
                return nil
            }
        }
        // Before the average: the stricter mask.
        if n < averageSize {
            let stop = min(end, i + (averageSize - n))
            let mask = maskS
            let first = i
            while i < stop {
                h = (h << 1) &+ g[Int(p[i])]
                i += 1
                if h & mask == 0 { return cut(at: i) }
            }
            n += i - first
            if i == end && n < averageSize { return keep(n, h) }
        }
        // Past the average: the looser mask, up to the maximum.
        let stop = min(end, i + (maxSize - n))
        let mask = maskL
        let first = i
        while i < stop {
            h = (h << 1) &+ g[Int(p[i])]
            i += 1
            if h & mask == 0 { return cut(at: i) }
        }
        n += i - first
        if n >= maxSize { return cut(at: i) }
        return keep(n, h)
    }

    private mutating func cut(at i: Int) -> Int {
        pending = 0
        hash = 0
        return i
    }

    private mutating func keep(_ n: Int, _ h: UInt64) -> Int? {
        pending = n
        hash = h
        return nil
    }

    /// Chunk lengths of a whole in-memory stream (the last one ends at the end of `bytes`).
    public static func lengths(of bytes: [UInt8], chunker: FilesChunker) -> [Int] {
        var chunker = chunker
        var out: [Int] = []
        bytes.withUnsafeBytes { raw in
            var start = 0
            while let cut = chunker.nextCut(in: raw, from: start) {
                out.append(cut - start)
                start = cut
            }
            if start < raw.count { out.append(raw.count - start) }
        }
        return out
    }
}

/// The 256 gear words in memory that never moves (read through a raw pointer in the loop).
final class GearTable: @unchecked Sendable {
    // Written once in init, read-only afterwards.
    let words: UnsafeMutablePointer<UInt64>
    init(_ values: [UInt64]) {
        words = .allocate(capacity: 256)
        for i in 0..<256 { words[i] = values[i] }
    }
    deinit { words.deallocate() }
}
