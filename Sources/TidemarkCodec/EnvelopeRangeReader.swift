import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
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

    /// The data frames that hold plaintext `range` (non-empty).
    public func frameIndices(covering range: Range<Int64>) -> ClosedRange<Int64> {
        let c = Int64(header.chunkSize)
        return (range.lowerBound / c)...((range.upperBound - 1) / c)
    }

    /// The bytes of the object that hold data frames `frames`.
    public func storedRange(frames: ClosedRange<Int64>) -> Range<Int64> {
        (firstFrame + frames.lowerBound * Int64(frameSize))..<(firstFrame + (frames.upperBound + 1) * Int64(frameSize))
    }

    /// The bytes of the object that hold plaintext `range` (non-empty).
    public func storedRange(covering range: Range<Int64>) -> Range<Int64> {
        storedRange(frames: frameIndices(covering: range))
    }

    /// Plaintext `range`, from `stored`: the object's bytes `storedRange(covering: range)` (the
    /// last frame of the object may be shorter, and what follows it is ignored).
    public func plaintext(_ range: Range<Int64>, from stored: [UInt8]) throws(EnvelopeError) -> [UInt8] {
        try plaintext(range, frames: frames(frameIndices(covering: range), from: stored))
    }

    /// Data frames `indices`, each authenticated, as their plaintext (without the mode byte),
    /// from `stored`: the object's bytes `storedRange(frames: indices)`. Every frame but the
    /// last is full; the last may be the object's short final one (what follows it is ignored).
    public func frames(_ indices: ClosedRange<Int64>, from stored: [UInt8]) throws(EnvelopeError) -> [[UInt8]] {
        var out: [[UInt8]] = []
        out.reserveCapacity(indices.count)
        var at = 0
        for index in indices {
            guard stored.count - at >= frameHeaderSize else { throw .truncated }
            guard stored[at] == FrameType.data.rawValue else {
                throw .corrupt("frame \(index) is not a data frame (the object ends before the range)")
            }
            let sealed = Int(stored[at + 1]) | Int(stored[at + 2]) << 8 | Int(stored[at + 3]) << 16 | Int(stored[at + 4]) << 24
            guard sealed > tagSize + 1, sealed <= 1 + header.chunkSize + tagSize else { throw .corrupt("frame length \(sealed) at chunk \(index)") }
            let start = at + frameHeaderSize
            guard stored.count - start >= sealed else { throw .truncated }
            let tagStart = start + sealed - tagSize
            let plain: Data
            do {
                let box = try AES.GCM.SealedBox(nonce: nonce(counter: UInt64(index), type: .data),
                                                ciphertext: stored[start..<tagStart], tag: stored[tagStart..<(start + sealed)])
                plain = try AES.GCM.open(box, using: key, authenticating: aad)
            } catch {
                throw .authenticationFailed("chunk \(index)", cause: error)
            }
            guard plain.first == 0 else { throw .corrupt("chunk \(index) is compressed in an envelope without compression") }
            guard index == indices.upperBound || plain.count - 1 == header.chunkSize else { throw .corrupt("chunk \(index) is short") }
            out.append(Array(plain.dropFirst()))
            at = start + sealed
        }
        return out
    }

    /// Plaintext `range` from `frames`: the plaintext of data frames `frameIndices(covering:
    /// range)`, in order, as `frames(_:from:)` returns them (each already authenticated).
    public func plaintext(_ range: Range<Int64>, frames: [[UInt8]]) throws(EnvelopeError) -> [UInt8] {
        let c = Int64(header.chunkSize)
        let indices = frameIndices(covering: range)
        guard frames.count == indices.count else { throw .truncated }
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        for (i, frame) in zip(indices, frames) {
            let frameStart = i * c
            let frameEnd = frameStart + Int64(frame.count)
            guard i == indices.upperBound || frameEnd == frameStart + c else { throw .corrupt("chunk \(i) is short") }
            let lower = max(range.lowerBound, frameStart) - frameStart
            let upper = min(range.upperBound, frameEnd) - frameStart
            guard upper >= lower, frameEnd >= min(range.upperBound, frameStart + c) else { throw .truncated }
            out += frame[Int(lower)..<Int(upper)]
        }
        return out
    }
}
