/// How the backup walk cuts a file's bytes into chunks. The storage side provides the keyed
/// FastCDC chunker; tests use `FixedSizeChunking`. Memory stays bounded: the walk feeds a file
/// in blocks and takes the chunks that are complete.
public protocol FilesChunking: Sendable {
    /// A splitter for one file's stream.
    func makeSplitter() -> any FilesChunkSplitter
    /// Whether chunks of a file starting with `prefix` should be compressed (false for JPEG,
    /// PNG, MP4, PDF, ZIP and other compressed formats).
    func isCompressible(prefix: [UInt8]) -> Bool
}

extension FilesChunking {
    public func isCompressible(prefix: [UInt8]) -> Bool { true }
}

/// Splits one stream: `append` returns the chunks complete so far, `finish` the rest (the last
/// chunk may be short; an empty stream yields no chunk).
public protocol FilesChunkSplitter {
    mutating func append(_ bytes: [UInt8]) -> [[UInt8]]
    mutating func finish() -> [[UInt8]]
}

/// Fixed-size chunks (for tests, and a floor to compare the content-defined chunker with).
public struct FixedSizeChunking: FilesChunking {
    public let size: Int
    public init(size: Int) { self.size = max(1, size) }
    public func makeSplitter() -> any FilesChunkSplitter { Splitter(size: size) }

    struct Splitter: FilesChunkSplitter {
        let size: Int
        var pending: [UInt8] = []
        mutating func append(_ bytes: [UInt8]) -> [[UInt8]] {
            pending += bytes
            var out: [[UInt8]] = []
            var start = 0
            while pending.count - start >= size {
                out.append(Array(pending[start..<(start + size)]))
                start += size
            }
            pending.removeFirst(start)
            return out
        }
        mutating func finish() -> [[UInt8]] {
            defer { pending = [] }
            return pending.isEmpty ? [] : [pending]
        }
    }
}
