import Crypto
import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import TidemarkSystem

/// What an object holds; stored in the header and covered by authentication.
public enum ObjectKind: UInt8, Sendable, Codable, CaseIterable {
    case generic = 0
    case walSegment = 1
    case timelineHistory = 2
    case backupHistory = 3
    case partialSegment = 4
    case stanzaInfo = 5
    case catalog = 6
    case backupData = 7
    /// A WAL segment's summary kept beside the archive (`tidemark reindex`).
    case walIndex = 8
}

/// The fixed 80-byte envelope header. See docs/format.md for the layout.
public struct EnvelopeHeader: Hashable, Sendable {
    public static let size = 80
    public static let magic = Array("TIDEMARK".utf8)
    public static let currentVersion: UInt8 = 1
    public static let cipherAES256GCM: UInt8 = 1
    public static let maxChunkSize = 16 << 20
    /// Summaries are small; the bound keeps a tampered header from making a reader buffer much.
    public static let maxSummaryFrame = 64 << 10

    public var version: UInt8 = currentVersion
    public var compression: CompressionAlgorithm
    public var kind: ObjectKind
    public var chunkSize: Int
    public var keyID: [UInt8]
    public var salt: [UInt8]
    /// Bytes of the summary frame that follows the header (0 when the object has none).
    public var summaryFrameLength: Int
    /// Flag bits (byte 68). Bit 0: the trailer carries no SHA-256 of the plaintext (all zero);
    /// used for backup packs, whose content the catalog's per-file SHA-256 covers.
    public var flags: UInt8 = 0
    public static let flagNoDigest: UInt8 = 0x01
    public var hasDigest: Bool { flags & Self.flagNoDigest == 0 }

    public func encoded() -> [UInt8] {
        var b = Self.magic
        b.append(version)
        b.append(compression.id)
        b.append(Self.cipherAES256GCM)
        b.append(kind.rawValue)
        appendLE(&b, UInt32(chunkSize))
        b += keyID
        b += salt
        appendLE(&b, UInt32(summaryFrameLength))
        b.append(flags)
        b += [UInt8](repeating: 0, count: 11)
        return b
    }

    public init(compression: CompressionAlgorithm, kind: ObjectKind, chunkSize: Int, keyID: [UInt8], salt: [UInt8], summaryFrameLength: Int) {
        self.compression = compression
        self.kind = kind
        self.chunkSize = chunkSize
        self.keyID = keyID
        self.salt = salt
        self.summaryFrameLength = summaryFrameLength
    }

    public init(parsing b: [UInt8]) throws(EnvelopeError) {
        guard b.count >= 8, Array(b[0..<8]) == Self.magic else {
            throw b.count < 8 && Self.magic.starts(with: b) ? .truncated : .notAnEnvelope
        }
        guard b.count >= Self.size else { throw .truncated }
        version = b[8]
        guard version == Self.currentVersion else {
            // 0 was never written: damage, not a newer format.
            throw version > Self.currentVersion ? .unsupportedVersion(version) : .corrupt("format version \(version)")
        }
        guard let c = CompressionAlgorithm(id: b[9]) else { throw .unsupportedAlgorithm("compression id \(b[9])") }
        compression = c
        guard b[10] == Self.cipherAES256GCM else { throw .unsupportedAlgorithm("cipher id \(b[10])") }
        guard let k = ObjectKind(rawValue: b[11]) else { throw .unsupportedAlgorithm("object kind \(b[11])") }
        kind = k
        chunkSize = Int(loadLE(b, 12, UInt32.self))
        guard chunkSize > 0, chunkSize <= Self.maxChunkSize else { throw .corrupt("chunk size \(chunkSize)") }
        keyID = Array(b[16..<32])
        salt = Array(b[32..<64])
        summaryFrameLength = Int(loadLE(b, 64, UInt32.self))
        guard summaryFrameLength == 0 || (summaryFrameLength >= frameHeaderSize + tagSize && summaryFrameLength <= Self.maxSummaryFrame) else {
            throw .corrupt("summary length \(summaryFrameLength)")
        }
        flags = b[68]
        guard flags & ~Self.flagNoDigest == 0 else { throw .unsupportedAlgorithm("header flags 0x\(String(flags, radix: 16))") }
        guard b[69..<80].allSatisfy({ $0 == 0 }) else { throw .corrupt("reserved header bytes are not zero") }
    }
}

enum FrameType: UInt8 {
    case data = 0
    case final = 1
    case summary = 2
}

/// Frame header: type u8, sealed length u32 LE.
let frameHeaderSize = 5
let tagSize = 16
/// Trailer plaintext: length u64, chunk count u64, SHA-256.
let trailerSize = 48

func nonce(counter: UInt64, type: FrameType) -> AES.GCM.Nonce {
    var n = [UInt8](repeating: 0, count: 12)
    for i in 0..<8 { n[i] = UInt8(truncatingIfNeeded: counter >> (56 - 8 * i)) }
    n[8] = type.rawValue
    // A 12-byte nonce is always valid.
    return try! AES.GCM.Nonce(data: n)
}

/// What the final frame proves about the plaintext.
public struct EnvelopeTrailer: Hashable, Sendable {
    public var length: UInt64
    public var chunkCount: UInt64
    public var sha256: [UInt8]
    public var sha256Hex: String { hexString(sha256) }
}

/// Writes one object: header, optional summary frame, data frames, final frame.
///
/// Input is cut into `chunkSize` pieces; pieces are compressed and sealed in parallel batches,
/// so memory stays at about `batchChunks × chunkSize` whatever the object's size. Not thread-safe.
///
/// The plaintext SHA-256 is computed alongside, unless the caller computes it itself
/// (`hashesInput: false`, as `wal-push` does while it opens the repository) and hands it to
/// `finish(plaintextSHA256:)`.
public struct EnvelopeWriter {
    public let header: EnvelopeHeader
    private let key: SymmetricKey
    private let aad: [UInt8]
    private let level: Int32
    private let batchChunks: Int
    private var pending: [UInt8] = []
    private var counter: UInt64 = 0
    private var length: UInt64 = 0
    private var hasher = SHA256()
    private let hashesInput: Bool
    private var summaryFrame: [UInt8] = []

    public init(key repositoryKey: RepositoryKey, kind: ObjectKind, compression: CompressionAlgorithm,
                level: Int32? = nil, chunkSize: Int = 1 << 20, summary: [UInt8]? = nil, batchChunks: Int = 16,
                plaintextDigest: Bool = true, hashesInput: Bool = true) {
        precondition(chunkSize > 0 && chunkSize <= EnvelopeHeader.maxChunkSize)
        let salt = randomBytes(32)
        let objectKey = repositoryKey.objectKey(salt: salt)
        let summaryLength = summary.map { frameHeaderSize + $0.count + tagSize } ?? 0
        precondition(summaryLength <= EnvelopeHeader.maxSummaryFrame, "summary too large")
        var header = EnvelopeHeader(compression: compression, kind: kind, chunkSize: chunkSize,
                                    keyID: repositoryKey.id, salt: salt, summaryFrameLength: summaryLength)
        if !plaintextDigest { header.flags |= EnvelopeHeader.flagNoDigest }
        self.header = header
        self.hashesInput = plaintextDigest && hashesInput
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

    /// Seals what is pending and the final frame. `plaintextSHA256` is the SHA-256 of all the
    /// bytes written, required when the writer was made with `hashesInput: false` (and a digest),
    /// ignored otherwise.
    public mutating func finish(plaintextSHA256: [UInt8]? = nil) -> (bytes: [UInt8], trailer: EnvelopeTrailer) {
        let (frames, trailer) = finishFrames(plaintextSHA256: plaintextSHA256)
        return (Self.joined(frames), trailer)
    }

    /// As `finish`, with the frames one by one.
    public mutating func finishFrames(plaintextSHA256: [UInt8]? = nil) -> (frames: [[UInt8]], trailer: EnvelopeTrailer) {
        var out = flushPending()
        let digest: [UInt8]
        if !header.hasDigest {
            digest = [UInt8](repeating: 0, count: 32)
        } else if hashesInput {
            digest = Array(hasher.finalize())
        } else {
            precondition(plaintextSHA256?.count == 32, "EnvelopeWriter(hashesInput: false) needs the plaintext SHA-256 at finish")
            digest = plaintextSHA256 ?? []
        }
        var t: [UInt8] = []
        appendLE(&t, length)
        appendLE(&t, counter)
        t += digest
        out.append(Self.seal(t, key: key, aad: aad, counter: counter, type: .final))
        return (out, EnvelopeTrailer(length: length, chunkCount: counter, sha256: digest))
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
                hashBox.hasher.update(bufferPointer: batch)
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

    /// One data frame: mode byte, raw length and the compressed bytes, built in place (no zero
    /// fill, no second copy); stored raw when compression does not help.
    static func sealChunk(_ piece: UnsafeRawBufferPointer, key: SymmetricKey, aad: [UInt8], counter: UInt64,
                          compression: CompressionAlgorithm, level: Int32) -> [UInt8] {
        let capacity = 5 + max(piece.count, Compressor.bound(compression, piece.count))
        let plain = [UInt8](unsafeUninitializedCapacity: capacity) { out, initialized in
            let raw = UnsafeMutableRawBufferPointer(out)
            if let n = Compressor.compress(piece, into: UnsafeMutableRawBufferPointer(rebasing: raw[5...]),
                                           algorithm: compression, level: level) {
                raw[0] = 1
                raw.storeBytes(of: UInt32(piece.count).littleEndian, toByteOffset: 1, as: UInt32.self)
                initialized = 5 + n
            } else {
                raw[0] = 0
                UnsafeMutableRawBufferPointer(rebasing: raw[1..<(1 + piece.count)]).copyMemory(from: piece)
                initialized = 1 + piece.count
            }
        }
        return seal(plain, key: key, aad: aad, counter: counter, type: .data)
    }

    static func seal(_ plain: [UInt8], key: SymmetricKey, aad: [UInt8], counter: UInt64, type: FrameType) -> [UInt8] {
        // Sealing with a valid 256-bit key and 12-byte nonce cannot fail.
        let box = try! AES.GCM.seal(plain, using: key, nonce: nonce(counter: counter, type: type), authenticating: aad)
        var frame: [UInt8] = [type.rawValue]
        frame.reserveCapacity(frameHeaderSize + plain.count + tagSize)
        appendLE(&frame, UInt32(box.ciphertext.count + tagSize))
        frame += box.ciphertext
        frame += box.tag
        return frame
    }
}

/// A pull source of bytes for `EnvelopeReader`.
public protocol ByteSource {
    /// Up to `count` bytes; fewer only at the end; empty at the end.
    mutating func read(upTo count: Int) throws -> [UInt8]
}

/// An in-memory `ByteSource`.
public struct ArrayByteSource: ByteSource {
    let bytes: [UInt8]
    var offset = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public mutating func read(upTo count: Int) throws -> [UInt8] {
        let end = min(bytes.count, offset + count)
        defer { offset = end }
        return Array(bytes[offset..<end])
    }
}

/// A push decoder: feed it bytes as they arrive, take authenticated events out.
///
/// Memory stays at about one frame whatever the object's size. Chunks are authenticated
/// one by one; a caller that streams them out must still treat the output as provisional until
/// `.finished`, which proves nothing was cut off, reordered or appended.
public struct EnvelopeDecoder {
    public enum Event: Equatable {
        /// Feed more bytes (or call `endOfInput`).
        case needInput
        case chunk([UInt8])
        case finished(EnvelopeTrailer)
    }

    private let repositoryKey: RepositoryKey
    private var buffer: [UInt8] = []
    private var offset = 0
    public private(set) var header: EnvelopeHeader?
    public private(set) var summary: [UInt8]?
    private var key: SymmetricKey?
    private var aad: [UInt8] = []
    private var summaryDone = false
    private var counter: UInt64 = 0
    private var length: UInt64 = 0
    private var hasher = SHA256()
    public private(set) var trailer: EnvelopeTrailer?

    public init(key: RepositoryKey) { repositoryKey = key }

    private var available: Int { buffer.count - offset }

    public mutating func feed(_ bytes: [UInt8]) {
        if offset > 0 && offset >= buffer.count / 2 {
            buffer.removeSubrange(0..<offset)
            offset = 0
        }
        buffer += bytes
    }

    /// Call once the input has ended; throws unless the trailer was verified and nothing followed.
    public func endOfInput() throws(EnvelopeError) {
        guard trailer != nil else {
            if header == nil && available > 0 && available < 8 && !EnvelopeHeader.magic.starts(with: buffer[offset...]) {
                throw .notAnEnvelope
            }
            throw .truncated
        }
        guard available == 0 else { throw .corrupt("bytes after the trailer") }
    }

    /// The next event. Once `.finished` has been returned, further bytes are an error.
    public mutating func next() throws(EnvelopeError) -> Event {
        if let trailer {
            guard available == 0 else { throw .corrupt("bytes after the trailer") }
            return .finished(trailer)
        }
        if header == nil {
            if available >= 8 && Array(buffer[offset..<offset + 8]) != EnvelopeHeader.magic { throw .notAnEnvelope }
            guard available >= EnvelopeHeader.size else { return .needInput }
            let bytes = Array(buffer[offset..<offset + EnvelopeHeader.size])
            let parsed = try EnvelopeHeader(parsing: bytes)
            guard parsed.keyID == repositoryKey.id else {
                throw .keyMismatch(expected: repositoryKey.idHex, found: hexString(parsed.keyID))
            }
            header = parsed
            aad = bytes
            key = repositoryKey.objectKey(salt: parsed.salt)
            offset += EnvelopeHeader.size
            summaryDone = parsed.summaryFrameLength == 0
        }
        guard let header, let key else { return .needInput }
        if !summaryDone {
            guard let (type, plain) = try takeFrame(key: key, counter: 0, maxSealed: header.summaryFrameLength - frameHeaderSize,
                                                   allowed: [.summary]) else { return .needInput }
            guard type == .summary, frameHeaderSize + plain.count + tagSize == header.summaryFrameLength else {
                throw .corrupt("summary length")
            }
            summary = plain
            summaryDone = true
        }
        guard let (type, plain) = try takeFrame(key: key, counter: counter, maxSealed: header.chunkSize + 5 + tagSize,
                                               allowed: [.data, .final]) else { return .needInput }
        if type == .final {
            guard plain.count == trailerSize else { throw .corrupt("trailer length") }
            let declaredLength = loadLE(plain, 0, UInt64.self)
            let declaredCount = loadLE(plain, 8, UInt64.self)
            guard declaredCount == counter, declaredLength == length else {
                throw .corrupt("trailer declares \(declaredLength) bytes in \(declaredCount) chunks, read \(length) in \(counter)")
            }
            let digest = header.hasDigest ? Array(hasher.finalize()) : [UInt8](repeating: 0, count: 32)
            guard digest == Array(plain[16..<48]) else { throw .corrupt("SHA-256 of the content does not match the trailer") }
            let done = EnvelopeTrailer(length: length, chunkCount: counter, sha256: digest)
            trailer = done
            guard available == 0 else { throw .corrupt("bytes after the trailer") }
            return .finished(done)
        }
        let data: [UInt8]
        switch plain.first {
        case 0:
            data = Array(plain.dropFirst())
        case 1:
            guard plain.count > 5 else { throw .corrupt("chunk \(counter) too short") }
            let raw = Int(loadLE(plain, 1, UInt32.self))
            guard raw > 0, raw <= header.chunkSize else { throw .corrupt("chunk \(counter) declares \(raw) bytes") }
            let result: Result<[UInt8], EnvelopeError> = plain.withUnsafeBytes { p in
                Result { () throws(EnvelopeError) in
                    try Compressor.decompress(UnsafeRawBufferPointer(rebasing: p[5...]), algorithm: header.compression, rawLength: raw)
                }
            }
            data = try result.get()
        default:
            throw .corrupt("chunk \(counter) has unknown mode")
        }
        guard !data.isEmpty, data.count <= header.chunkSize else { throw .corrupt("chunk \(counter) size") }
        if header.hasDigest { hasher.update(data: data) }
        counter += 1
        length += UInt64(data.count)
        return .chunk(data)
    }

    /// Opens the next frame if it is complete in the buffer; nil when more input is needed.
    private mutating func takeFrame(key: SymmetricKey, counter: UInt64, maxSealed: Int,
                                    allowed: Set<FrameType>) throws(EnvelopeError) -> (FrameType, [UInt8])? {
        guard available >= frameHeaderSize else { return nil }
        guard let type = FrameType(rawValue: buffer[offset]), allowed.contains(type) else {
            throw .corrupt("unexpected frame type \(buffer[offset]) at chunk \(counter)")
        }
        let sealedLength = Int(buffer[offset + 1]) | Int(buffer[offset + 2]) << 8 | Int(buffer[offset + 3]) << 16 | Int(buffer[offset + 4]) << 24
        guard sealedLength >= tagSize, sealedLength <= maxSealed else {
            throw .corrupt("frame length \(sealedLength) at chunk \(counter)")
        }
        guard available >= frameHeaderSize + sealedLength else { return nil }
        let start = offset + frameHeaderSize
        let tagStart = start + sealedLength - tagSize
        do {
            let box = try AES.GCM.SealedBox(nonce: nonce(counter: counter, type: type),
                                            ciphertext: buffer[start..<tagStart],
                                            tag: buffer[tagStart..<(start + sealedLength)])
            let plain = try AES.GCM.open(box, using: key, authenticating: aad)
            offset = start + sealedLength
            return (type, Array(plain))
        } catch {
            let what = type == .summary ? "the summary" : type == .final ? "the trailer" : "chunk \(counter)"
            throw .authenticationFailed(what)
        }
    }
}

/// Reads and authenticates one object from a synchronous source, chunk by chunk.
public struct EnvelopeReader<Source: ByteSource> {
    private var source: Source
    private var decoder: EnvelopeDecoder
    private var ended = false
    public var header: EnvelopeHeader? { decoder.header }
    public var summary: [UInt8]? { decoder.summary }
    public var trailer: EnvelopeTrailer? { decoder.trailer }

    /// Reads nothing yet: `header` and `summary` are set once the first `next()` has run.
    public init(source: Source, key: RepositoryKey) throws {
        self.source = source
        decoder = EnvelopeDecoder(key: key)
    }

    /// The next chunk of plaintext, or nil after the trailer has been verified.
    public mutating func next() throws -> [UInt8]? {
        while true {
            switch try decoder.next() {
            case .chunk(let c): return c
            case .finished:
                if !ended {
                    let extra = try source.read(upTo: 1)
                    guard extra.isEmpty else { throw EnvelopeError.corrupt("bytes after the trailer") }
                    ended = true
                }
                return nil
            case .needInput:
                let more = try source.read(upTo: 1 << 20)
                if more.isEmpty {
                    try decoder.endOfInput()
                    throw EnvelopeError.truncated
                }
                decoder.feed(more)
            }
        }
    }

    /// Reads every remaining chunk into `sink`; returns the verified trailer.
    public mutating func readAll(into sink: ([UInt8]) throws -> Void) throws -> EnvelopeTrailer {
        while let chunk = try next() { try sink(chunk) }
        guard let trailer else { throw EnvelopeError.truncated }
        return trailer
    }
}

extension EnvelopeReader where Source == ArrayByteSource {
    /// Decodes a whole in-memory object.
    public static func decode(_ bytes: [UInt8], key: RepositoryKey) throws -> (plaintext: [UInt8], trailer: EnvelopeTrailer, summary: [UInt8]?) {
        var reader = try EnvelopeReader(source: ArrayByteSource(bytes), key: key)
        var out: [UInt8] = []
        let trailer = try reader.readAll { out += $0 }
        return (out, trailer, reader.summary)
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

final class ResultSlots: @unchecked Sendable {
    // Each index is written by exactly one concurrentPerform iteration, then read after it
    // returns. Fixed storage, not an Array: Array.withUnsafeMutableBufferPointer moves the
    // array out of `self` for the call, so concurrent writers would race on that move.
    private let storage: UnsafeMutableBufferPointer<[UInt8]>
    init(count: Int) {
        storage = .allocate(capacity: count)
        storage.initialize(repeating: [])
    }
    deinit {
        storage.deinitialize()
        storage.deallocate()
    }
    func set(_ i: Int, _ v: [UInt8]) { storage[i] = v }
    var values: UnsafeMutableBufferPointer<[UInt8]> { storage }
}

/// Lets concurrentPerform's iterations read the caller's buffer, which outlives the call.
public struct SharedBuffer: @unchecked Sendable {
    public let buffer: UnsafeRawBufferPointer
    public init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }
}

final class HasherBox: @unchecked Sendable {
    // Mutated by exactly one iteration of concurrentPerform.
    var hasher: SHA256
    init(_ h: SHA256) { hasher = h }
}

@inline(__always)
func appendLE<T: FixedWidthInteger>(_ b: inout [UInt8], _ v: T) {
    for i in 0..<MemoryLayout<T>.size { b.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
}

@inline(__always)
func loadLE<T: FixedWidthInteger>(_ b: [UInt8], _ offset: Int, _: T.Type) -> T {
    var v: T = 0
    for i in 0..<MemoryLayout<T>.size { v |= T(b[offset + i]) << (8 * i) }
    return v
}
