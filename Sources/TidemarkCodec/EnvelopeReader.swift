import TidemarkSystem


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
