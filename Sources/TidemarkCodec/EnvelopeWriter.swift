import Crypto
import TidemarkSystem

/// Writes one object: header, optional summary frame, data frames, final frame.
///
/// Input is cut into `chunkSize` pieces; pieces are compressed and sealed in parallel batches,
/// so memory stays at about `batchChunks × chunkSize` whatever the object's size. Not thread-safe.
///
/// The plaintext's checksum (`digest`: SHA-256 by default, XXH3-128 for WAL objects, none for
/// backup packs) is computed alongside, unless the caller computes it itself (`hashesInput:
/// false`, as `wal-push` does while it opens the repository) and hands it to
/// `finish(plaintextDigest:)`.
public struct EnvelopeWriter {
    public let header: EnvelopeHeader
    private let key: SymmetricKey
    private let aad: [UInt8]
    private let level: Int32
    private let batchChunks: Int
    private var pending: [UInt8] = []
    private var counter: UInt64 = 0
    private var length: UInt64 = 0
    private var hasher: PlaintextHasher
    private let hashesInput: Bool
    private var summaryFrame: [UInt8] = []

    public init(key repositoryKey: RepositoryKey, kind: ObjectKind, compression: CompressionAlgorithm,
                level: Int32? = nil, chunkSize: Int = 1 << 20, summary: [UInt8]? = nil, batchChunks: Int = 16,
                digest: PlaintextDigestKind = .sha256, hashesInput: Bool = true) {
        precondition(chunkSize > 0 && chunkSize <= EnvelopeHeader.maxChunkSize)
        let salt = randomBytes(32)
        let objectKey = repositoryKey.objectKey(salt: salt)
        let summaryLength = summary.map { frameHeaderSize + $0.count + tagSize } ?? 0
        precondition(summaryLength <= EnvelopeHeader.maxSummaryFrame, "summary too large")
        var header = EnvelopeHeader(compression: compression, kind: kind, chunkSize: chunkSize,
                                    keyID: repositoryKey.id, salt: salt, summaryFrameLength: summaryLength)
        header.digestKind = digest
        self.header = header
        self.hashesInput = digest != .none && hashesInput
        hasher = PlaintextHasher(digest)
        key = objectKey
        aad = header.encoded()
        self.level = level ?? compression.defaultLevel
        self.batchChunks = max(1, batchChunks)
        if let summary {
            summaryFrame = Self.seal(summary, key: objectKey, aad: aad, counter: 0, type: .summary)
        }
        pending.reserveCapacity(chunkSize * self.batchChunks)
    }

    /// The header and summary frame; emit these first.
    public func start() -> [UInt8] { aad + summaryFrame }

    /// Adds plaintext; returns the frames completed by it (possibly none).
    public mutating func write(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        Self.joined(writeFrames(bytes))
    }

    /// As `write`, but the completed frames one by one, not copied into one buffer (for a
    /// writer that takes several buffers at once).
    public mutating func writeFrames(_ bytes: UnsafeRawBufferPointer) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var input = bytes[...]
        let batchBytes = header.chunkSize * batchChunks
        // Fast path: whole batches straight from the caller's buffer.
        if pending.isEmpty {
            while input.count >= batchBytes {
                let slice = UnsafeRawBufferPointer(rebasing: input.prefix(batchBytes))
                out += processBatch(slice)
                input = input.dropFirst(batchBytes)
            }
        }
        while !input.isEmpty {
            let take = min(batchBytes - pending.count, input.count)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: input.prefix(take)))
            input = input.dropFirst(take)
            if pending.count == batchBytes && !input.isEmpty {
                out += flushPending()
            }
        }
        if pending.count == batchBytes { out += flushPending() }
        return out
    }

    public mutating func write(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Seals what is pending and the final frame. `plaintextDigest` is the checksum (of the
    /// writer's kind) of all the bytes written, required when the writer was made with
    /// `hashesInput: false` (and a digest), ignored otherwise.
    public mutating func finish(plaintextDigest: [UInt8]? = nil) -> (bytes: [UInt8], trailer: EnvelopeTrailer) {
        let (frames, trailer) = finishFrames(plaintextDigest: plaintextDigest)
        return (Self.joined(frames), trailer)
    }

    /// As `finish`, with the frames one by one.
    public mutating func finishFrames(plaintextDigest: [UInt8]? = nil) -> (frames: [[UInt8]], trailer: EnvelopeTrailer) {
        var out = flushPending()
        let kind = header.digestKind
        let digest: [UInt8]
        if kind == .none {
            digest = []
        } else if hashesInput {
            digest = hasher.finalize()
        } else {
            precondition(plaintextDigest?.count == kind.size, "EnvelopeWriter(hashesInput: false) needs the plaintext \(kind.label) at finish")
            digest = plaintextDigest ?? []
        }
        var t: [UInt8] = []
        appendLE(&t, length)
        appendLE(&t, counter)
        t += EnvelopeTrailer.field(digest)
        out.append(Self.seal(t, key: key, aad: aad, counter: counter, type: .final))
        return (out, EnvelopeTrailer(length: length, chunkCount: counter, digestKind: kind, digest: digest))
    }

    static func joined(_ frames: [[UInt8]]) -> [UInt8] {
        if frames.count == 1 { return frames[0] }
        var out: [UInt8] = []
        out.reserveCapacity(frames.reduce(0) { $0 + $1.count })
        for frame in frames { out += frame }
        return out
    }

    private mutating func flushPending() -> [[UInt8]] {
        guard !pending.isEmpty else { return [] }
        let data = pending
        pending.removeAll(keepingCapacity: true)
        return data.withUnsafeBytes { processBatch($0) }
    }

    /// Compresses and seals the chunks of `batch` in parallel while hashing it on another thread.
    private mutating func processBatch(_ batch: UnsafeRawBufferPointer) -> [[UInt8]] {
        let chunkSize = header.chunkSize
        let count = (batch.count + chunkSize - 1) / chunkSize
        let results = ResultSlots(count: count)
        let hashBox = HasherBox(hasher)
        let firstCounter = counter
        let (key, aad, compression, level) = (self.key, self.aad, header.compression, self.level)
        let shared = SharedBuffer(batch)
        let digest = hashesInput
        // The hash is the longest single task: it goes first (iteration 0), so the chunks
        // share the other threads while it runs instead of waiting for it at the end.
        let first = digest ? 1 : 0
        BlockingPool.shared.parallelFor(count: count + first) { j in
            let batch = shared.buffer
            if digest && j == 0 {
                hashBox.hasher.update(batch)
                return
            }
            let i = j - first
            let lower = i * chunkSize
            let piece = UnsafeRawBufferPointer(rebasing: batch[lower..<min(lower + chunkSize, batch.count)])
            results.set(i, Self.sealChunk(piece, key: key, aad: aad, counter: firstCounter + UInt64(i), compression: compression, level: level))
        }
        hasher = hashBox.hasher
        counter += UInt64(count)
        length += UInt64(batch.count)
        return Array(results.values)
    }
}

/// Encodes a whole in-memory object.
public func encodeEnvelope(_ plaintext: [UInt8], key: RepositoryKey, kind: ObjectKind, compression: CompressionAlgorithm,
                           level: Int32? = nil, chunkSize: Int = 1 << 20, summary: [UInt8]? = nil) -> (bytes: [UInt8], trailer: EnvelopeTrailer) {
    var writer = EnvelopeWriter(key: key, kind: kind, compression: compression, level: level, chunkSize: chunkSize, summary: summary)
    var out = writer.start()
    out += writer.write(plaintext)
    let (tail, trailer) = writer.finish()
    out += tail
    return (out, trailer)
}
