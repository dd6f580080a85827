import Crypto
import TidemarkSystem

/// Random access into an envelope written without compression (`CompressionAlgorithm.none`):
/// every data frame but the last then seals exactly `chunkSize` bytes (mode byte 0), so data
/// frame `i` starts at a computable offset and a range of the plaintext can be read by fetching
/// only the frames that cover it (file-backup packs, TidemarkFiles). Every frame read is
/// authenticated (its GCM tag, under the header as additional data, with its counter in the
/// nonce), so a frame cannot be moved, swapped between objects or altered; what a ranged read
/// cannot prove is the object's end (the trailer): a full read (verify) does that.
public struct EnvelopeRangeReader: Sendable {
    public let header: EnvelopeHeader
    private let key: SymmetricKey
    private let aad: [UInt8]

    /// The sealed size of a full data frame.
    public var frameSize: Int { frameHeaderSize + 1 + header.chunkSize + tagSize }
    private var firstFrame: Int64 { Int64(EnvelopeHeader.size + header.summaryFrameLength) }

    /// `headerBytes`: the object's first `EnvelopeHeader.size` bytes.
    public init(headerBytes: [UInt8], key repositoryKey: RepositoryKey) throws(EnvelopeError) {
        let parsed = try EnvelopeHeader(parsing: headerBytes)
        guard parsed.keyID == repositoryKey.id else {
            throw .keyMismatch(expected: repositoryKey.idHex, found: hexString(parsed.keyID))
        }
        guard parsed.compression == .none else {
            throw .unsupportedAlgorithm("ranged reads of a \(parsed.compression)-compressed envelope")
        }
        header = parsed
        aad = Array(headerBytes.prefix(EnvelopeHeader.size))
        key = repositoryKey.objectKey(salt: parsed.salt)
    }

    /// The bytes of the object that hold plaintext `range` (non-empty).
    public func storedRange(covering range: Range<Int64>) -> Range<Int64> {
        let c = Int64(header.chunkSize)
        let first = range.lowerBound / c
        let last = (range.upperBound - 1) / c
        return (firstFrame + first * Int64(frameSize))..<(firstFrame + (last + 1) * Int64(frameSize))
    }

    /// Plaintext `range`, from `stored`: the object's bytes `storedRange(covering: range)` (the
    /// last frame of the object may be shorter, and what follows it is ignored).
    public func plaintext(_ range: Range<Int64>, from stored: [UInt8]) throws(EnvelopeError) -> [UInt8] {
        let c = Int64(header.chunkSize)
        let firstIndex = range.lowerBound / c
        let lastIndex = (range.upperBound - 1) / c
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        var at = 0
        for index in firstIndex...lastIndex {
            guard stored.count - at >= frameHeaderSize else { throw .truncated }
            guard stored[at] == FrameType.data.rawValue else {
                throw .corrupt("frame \(index) is not a data frame (the object ends before the range)")
            }
            let sealed = Int(stored[at + 1]) | Int(stored[at + 2]) << 8 | Int(stored[at + 3]) << 16 | Int(stored[at + 4]) << 24
            guard sealed > tagSize + 1, sealed <= 1 + header.chunkSize + tagSize else { throw .corrupt("frame length \(sealed) at chunk \(index)") }
            let start = at + frameHeaderSize
            guard stored.count - start >= sealed else { throw .truncated }
            let tagStart = start + sealed - tagSize
            let plain: [UInt8]
            do {
                let box = try AES.GCM.SealedBox(nonce: nonce(counter: UInt64(index), type: .data),
                                                ciphertext: stored[start..<tagStart], tag: stored[tagStart..<(start + sealed)])
                plain = Array(try AES.GCM.open(box, using: key, authenticating: aad))
            } catch {
                throw .authenticationFailed("chunk \(index)", cause: error)
            }
            guard plain.first == 0 else { throw .corrupt("chunk \(index) is compressed in an envelope without compression") }
            let frameStart = index * c
            let frameEnd = frameStart + Int64(plain.count - 1)
            guard index == lastIndex || frameEnd == frameStart + c else { throw .corrupt("chunk \(index) is short") }
            let lower = max(range.lowerBound, frameStart) - frameStart
            let upper = min(range.upperBound, frameEnd) - frameStart
            guard upper >= lower, frameEnd >= min(range.upperBound, frameStart + c) else { throw .truncated }
            out += plain[(1 + Int(lower))..<(1 + Int(upper))]
            at = start + sealed
        }
        return out
    }
}
