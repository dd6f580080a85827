import TidemarkCodec
import TidemarkCore
import TidemarkStorage

/// Writes one pack object: the plaintext is the concatenation of the blocks appended, in an
/// envelope, streamed to the store as it fills. Offsets are plaintext offsets.
final class PackWriter {
    let key: String
    let name: String
    private var encoder: EnvelopeWriter
    private let writer: any ObjectWriter
    private(set) var plaintextSize: Int64 = 0
    private(set) var storedSize: Int64 = 0

    init(store: any ObjectStore, key: String, name: String, repositoryKey: RepositoryKey,
         compression: CompressionAlgorithm, level: Int32?) async throws {
        self.key = key
        self.name = name
        encoder = EnvelopeWriter(key: repositoryKey, kind: .backupData, compression: compression, level: level,
                                 chunkSize: 1 << 20, batchChunks: 16)
        writer = try await store.makeWriter(key)
        let start = encoder.start()
        try await writer.write(start)
        storedSize += Int64(start.count)
    }

    /// Appends bytes; returns the plaintext offset they start at.
    func append(_ bytes: UnsafeRawBufferPointer) async throws -> Int64 {
        let offset = plaintextSize
        let frames = encoder.write(bytes)
        plaintextSize += Int64(bytes.count)
        if !frames.isEmpty {
            storedSize += Int64(frames.count)
            try await writer.write(frames)
        }
        return offset
    }

    /// Seals and publishes the pack.
    func finish() async throws {
        let (tail, _) = encoder.finish()
        storedSize += Int64(tail.count)
        try await writer.write(tail)
        guard try await writer.commit(ifAbsent: true) == .created else {
            throw TidemarkError(.conflict, "pack '\(key)' already exists; another backup with the same id is running")
        }
    }

    func abort() async {
        await writer.abort()
    }
}
