import Crypto
import TidemarkSystem

/// Sealing one frame, and the shared state a batch of chunks is sealed with in parallel
/// (`EnvelopeWriter.processBatch` runs one chunk per `ParallelFor` iteration).
extension EnvelopeWriter {
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
    var hasher: PlaintextHasher
    init(_ h: PlaintextHasher) { hasher = h }
}
