/// The production `FilesChunking`: the storage side's keyed FastCDC chunker (`FilesChunker`,
/// boundaries from the stanza's files secret) and its content sniffing (`FilesContentKind`:
/// JPEG, PNG, MP4, PDF, ZIP… are stored without recompressing).
public struct FilesCDCChunking: FilesChunking {
    public let chunker: FilesChunker
    public init(chunker: FilesChunker) { self.chunker = chunker }

    public func makeSplitter() -> any FilesChunkSplitter { Splitter(chunker: chunker) }
    public func isCompressible(prefix: [UInt8]) -> Bool { FilesContentKind.compressible(prefix) }

    struct Splitter: FilesChunkSplitter {
        var chunker: FilesChunker
        /// The current chunk's bytes so far (at most the chunker's maximum).
        var pending: [UInt8] = []

        mutating func append(_ bytes: [UInt8]) -> [[UInt8]] {
            var out: [[UInt8]] = []
            bytes.withUnsafeBytes { raw in
                var start = 0
                while let cut = chunker.nextCut(in: raw, from: start) {
                    if pending.isEmpty {
                        out.append(Array(raw[start..<cut]))
                    } else {
                        pending += raw[start..<cut]
                        out.append(pending)
                        pending = []
                    }
                    start = cut
                }
                if start < raw.count { pending += raw[start...] }
            }
            return out
        }

        mutating func finish() -> [[UInt8]] {
            defer { pending = [] }
            return pending.isEmpty ? [] : [pending]
        }
    }
}
