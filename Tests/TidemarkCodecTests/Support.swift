import Testing
import TidemarkCodec

/// Deterministic pseudo-random bytes (SplitMix64), so a failing case can be reproduced.
func noise(_ count: Int, seed: UInt64 = 0x5EED) -> [UInt8] {
    var state = seed
    var out: [UInt8] = []
    out.reserveCapacity(count)
    while out.count < count {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        for i in 0..<8 where out.count < count { out.append(UInt8(truncatingIfNeeded: z >> (8 * i))) }
    }
    return out
}

/// Text-like bytes that every algorithm compresses well.
func compressible(_ count: Int) -> [UInt8] {
    let line = Array("2024-05-01 12:00:00 UTC LOG:  checkpoint complete: wrote 42 buffers\n".utf8)
    return (0..<count).map { line[$0 % line.count] }
}

/// A key with the same id as `key` but different key bytes.
func impostor(of key: RepositoryKey) -> RepositoryKey {
    RepositoryKey(id: key.id, keyBytes: noise(32, seed: 99))
}

/// Offsets of the frames that follow the header: (offset, type, total frame length).
func frames(of object: [UInt8]) -> [(offset: Int, type: UInt8, length: Int)] {
    var out: [(Int, UInt8, Int)] = []
    var i = 80
    while i + 5 <= object.count {
        let sealed = Int(object[i + 1]) | Int(object[i + 2]) << 8 | Int(object[i + 3]) << 16 | Int(object[i + 4]) << 24
        out.append((i, object[i], 5 + sealed))
        i += 5 + sealed
    }
    return out
}

/// Drives `EnvelopeDecoder` the way a streaming caller does: feed `feedSize` bytes whenever it
/// asks, call `endOfInput` when the input runs out.
func decodeIncrementally(_ object: [UInt8], key: RepositoryKey, feedSize: Int) throws -> (plaintext: [UInt8], trailer: EnvelopeTrailer) {
    var decoder = EnvelopeDecoder(key: key)
    var offset = 0
    var out: [UInt8] = []
    while true {
        switch try decoder.next() {
        case .chunk(let chunk):
            out += chunk
        case .finished(let trailer):
            decoder.feed(Array(object[offset...]))
            try decoder.endOfInput()
            return (out, trailer)
        case .needInput:
            guard offset < object.count else {
                try decoder.endOfInput()
                throw EnvelopeError.truncated
            }
            let end = min(object.count, offset + feedSize)
            decoder.feed(Array(object[offset..<end]))
            offset = end
        }
    }
}

/// `#expect(throws:)` for an `EnvelopeError`, classified by its code and, where given, its detail.
@discardableResult
func expectEnvelopeError<R>(_ code: EnvelopeError.Code, detail: String? = nil, _ comment: Comment? = nil,
                            sourceLocation: SourceLocation = #_sourceLocation,
                            performing body: () throws -> R) -> EnvelopeError? {
    let error = #expect(throws: EnvelopeError.self, comment, sourceLocation: sourceLocation) { _ = try body() }
    guard let error else { return nil }
    #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    if let detail { #expect(error.detail == detail, "\(error)", sourceLocation: sourceLocation) }
    return error
}

/// `#expect(throws:)` for a `KeyError`, classified by its code and, where given, its detail.
@discardableResult
func expectKeyError<R>(_ code: KeyError.Code, detail: String? = nil, _ comment: Comment? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation,
                       performing body: () throws -> R) -> KeyError? {
    let error = #expect(throws: KeyError.self, comment, sourceLocation: sourceLocation) { _ = try body() }
    guard let error else { return nil }
    #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    if let detail { #expect(error.detail == detail, "\(error)", sourceLocation: sourceLocation) }
    return error
}
