import Crypto
import TidemarkSystem

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
    private var hasher: PlaintextHasher?
    public private(set) var trailer: EnvelopeTrailer?
    /// Authenticate only: every frame's GCM tag, the chunk count and the plaintext length (from
    /// each chunk's raw length) are checked, but chunks are not decompressed and the content's
    /// SHA-256 is not recomputed; `.chunk` events carry no bytes. For re-reading an object
    /// whose decoded content was proven before: while its authenticated bytes are unchanged,
    /// what they decode to cannot change (verify's rotating sample).
    public var authenticateOnly = false

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
            hasher = PlaintextHasher(parsed.digestKind)
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
            let kind = header.digestKind
            let declaredDigest = try EnvelopeTrailer.digest(field: plain[16..<48], kind: kind)
            let digest = authenticateOnly ? declaredDigest : hasher?.finalize() ?? []
            guard digest == declaredDigest else { throw .corrupt("\(kind.label) of the content does not match the trailer") }
            let done = EnvelopeTrailer(length: length, chunkCount: counter, digestKind: kind, digest: digest)
            trailer = done
            guard available == 0 else { throw .corrupt("bytes after the trailer") }
            return .finished(done)
        }
        if authenticateOnly {
            let raw: Int
            switch plain.first {
            case 0: raw = plain.count - 1
            case 1 where plain.count > 5: raw = Int(loadLE(plain, 1, UInt32.self))
            default: throw .corrupt("chunk \(counter) has unknown mode or is too short")
            }
            guard raw > 0, raw <= header.chunkSize else { throw .corrupt("chunk \(counter) size") }
            counter += 1
            length += UInt64(raw)
            return .chunk([])
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
        hasher?.update(data)
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
            throw .authenticationFailed(what, cause: error)
        }
    }
}
