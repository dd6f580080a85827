import CLZ4
import CZlib
import CZstd
import TidemarkSystem

/// A compression algorithm for envelope chunks. Every chunk is compressed on its own, so
/// chunks can be processed in parallel and a reader never needs more than one chunk in memory.
public enum CompressionAlgorithm: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
    case none, lz4, zstd, gzip

    /// The byte stored in an envelope header.
    public var id: UInt8 {
        switch self {
        case .none: return 0
        case .lz4: return 1
        case .zstd: return 2
        case .gzip: return 3
        }
    }

    public init?(id: UInt8) {
        guard let value = Self.allCases.first(where: { $0.id == id }) else { return nil }
        self = value
    }

    /// The level used when the configuration names none.
    public var defaultLevel: Int32 {
        switch self {
        case .none, .lz4: return 1
        case .zstd: return 3
        case .gzip: return 6
        }
    }

    /// Valid levels for the configuration (lz4: acceleration factor).
    public var levelRange: ClosedRange<Int32> {
        switch self {
        case .none: return 0...1
        case .lz4: return 1...65537
        case .zstd: return 1...19
        case .gzip: return 1...9
        }
    }

    public var description: String { rawValue }
}

enum Compressor {
    /// Largest output `compress(into:)` may need for `size` input bytes.
    static func bound(_ algorithm: CompressionAlgorithm, _ size: Int) -> Int {
        switch algorithm {
        case .none: return size
        case .lz4: return Int(LZ4_compressBound(Int32(size)))
        case .zstd: return ZSTD_compressBound(size)
        case .gzip: return Int(compressBound(uLong(size)))
        }
    }

    /// Compresses `input` into `output` (at least `bound` bytes); returns the compressed size,
    /// or nil when compression would not make it smaller.
    static func compress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                         algorithm: CompressionAlgorithm, level: Int32) -> Int? {
        guard input.count > 0, let src = input.baseAddress, let dst = output.baseAddress else { return nil }
        switch algorithm {
        case .none:
            return nil
        case .lz4:
            let n = LZ4_compress_fast(src.assumingMemoryBound(to: CChar.self), dst.assumingMemoryBound(to: CChar.self),
                                      Int32(input.count), Int32(output.count), level)
            return n > 0 && Int(n) < input.count ? Int(n) : nil
        case .zstd:
            let n = ZSTD_compress(dst, output.count, src, input.count, level)
            return ZSTD_isError(n) == 0 && n < input.count ? n : nil
        case .gzip:
            var length = uLong(output.count)
            let rc = compress2(dst.assumingMemoryBound(to: Bytef.self), &length, src.assumingMemoryBound(to: Bytef.self),
                               uLong(input.count), level)
            return rc == Z_OK && Int(length) < input.count ? Int(length) : nil
        }
    }

    /// Decompresses into exactly `rawLength` bytes; throws when the data does not produce them.
    static func decompress(_ input: UnsafeRawBufferPointer, algorithm: CompressionAlgorithm, rawLength: Int) throws(EnvelopeError) -> [UInt8] {
        guard let src = input.baseAddress, input.count > 0, rawLength > 0 else { throw .corrupt("empty compressed chunk") }
        var out = [UInt8](repeating: 0, count: rawLength)
        let ok: Bool = out.withUnsafeMutableBytes { dst in
            switch algorithm {
            case .none:
                return false
            case .lz4:
                let n = LZ4_decompress_safe(src.assumingMemoryBound(to: CChar.self),
                                            dst.baseAddress!.assumingMemoryBound(to: CChar.self),
                                            Int32(input.count), Int32(rawLength))
                return Int(n) == rawLength
            case .zstd:
                let n = ZSTD_decompress(dst.baseAddress!, rawLength, src, input.count)
                return ZSTD_isError(n) == 0 && n == rawLength
            case .gzip:
                var len = uLong(rawLength)
                let rc = uncompress(dst.baseAddress!.assumingMemoryBound(to: Bytef.self), &len,
                                    src.assumingMemoryBound(to: Bytef.self), uLong(input.count))
                return rc == Z_OK && Int(len) == rawLength
            }
        }
        guard ok else { throw .corrupt("\(algorithm) chunk does not decompress to \(rawLength) bytes") }
        return out
    }
}
