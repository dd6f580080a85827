import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository

/// Writes one pack object: the plaintext is the concatenation of the blocks appended, in an
/// envelope, streamed to the store as it fills. Offsets are plaintext offsets.
///
/// Appended bytes fill a 16 MiB batch; a full batch is compressed, sealed and written by a
/// background task while the next one fills (double buffering), so hashing the incoming
/// stream and compressing the previous batch overlap. One batch is in flight at a time, which
/// bounds memory at two batches and keeps the envelope's chunk order.
package final class PackWriter {
    package let key: String
    package let name: String
    private let encoder: PackEncoder
    private var fill: UnsafeMutableRawBufferPointer
    private var fillCount = 0
    private var spare: UnsafeMutableRawBufferPointer?
    private var inFlight: Task<SendableBuffer, any Error>?
    package private(set) var plaintextSize: Int64 = 0
    package var storedSize: Int64 { encoder.storedSize }
    package static let batchBytes = 16 << 20

    /// Batch buffers handed back by finished packs, reused by the next (fresh 16 MiB buffers
    /// cost a page fault per 4 KiB on first touch).
    package let pool: BufferPool

    package init(store: any ObjectStore, key: String, name: String, repositoryKey: RepositoryKey,
         compression: CompressionAlgorithm, level: Int32?, pool: BufferPool) async throws {
        self.key = key
        self.name = name
        self.pool = pool
        let envelope = EnvelopeWriter(key: repositoryKey, kind: .backupData, compression: compression, level: level,
                                      chunkSize: 1 << 20, batchChunks: 16, digest: .none)
        let writer = try await store.makeWriter(key)
        encoder = PackEncoder(envelope: envelope, writer: writer)
        fill = pool.take()
        try await encoder.start()
    }

    deinit {
        inFlight?.cancel()
        pool.give(fill)
        if let spare { pool.give(spare) }
    }

    /// Appends bytes; returns the plaintext offset they start at.
    package func append(_ bytes: UnsafeRawBufferPointer) async throws -> Int64 {
        let offset = plaintextSize
        var done = 0
        while done < bytes.count {
            let take = min(fill.count - fillCount, bytes.count - done)
            (fill.baseAddress! + fillCount).copyMemory(from: bytes.baseAddress! + done, byteCount: take)
            fillCount += take
            done += take
            if fillCount == fill.count { try await launch() }
        }
        plaintextSize += Int64(bytes.count)
        return offset
    }

    /// Hands the filled batch to the background encoder (after the previous one finished).
    private func launch() async throws {
        if let previous = inFlight {
            inFlight = nil
            spare = try await previous.value.buffer
        }
        let batch = SendableBuffer(buffer: fill, count: fillCount)
        let encoder = self.encoder
        inFlight = Task { try await encoder.encode(batch) }
        fill = spare ?? pool.take()
        spare = nil
        fillCount = 0
    }

    /// Seals and publishes the pack.
    package func finish() async throws {
        if fillCount > 0 { try await launch() }
        if let previous = inFlight {
            inFlight = nil
            spare = try await previous.value.buffer
        }
        guard try await encoder.finish() == .created else {
            throw TidemarkError(.conflict, "pack '\(key)' already exists; another backup with the same id is running")
        }
    }

    package func abort() async {
        if let previous = inFlight {
            inFlight = nil
            if let returned = try? await previous.value { spare = spare ?? returned.buffer }
        }
        await encoder.abort()
    }
}

/// A batch buffer handed to the encoder task; the PackWriter does not touch it until the task
/// returns it.
package struct SendableBuffer: @unchecked Sendable {
    package let buffer: UnsafeMutableRawBufferPointer
    package let count: Int
}

/// The envelope state and the store writer of one pack. Used by one task at a time: the
/// PackWriter awaits each task before starting the next.
package final class PackEncoder: @unchecked Sendable {
    private var envelope: EnvelopeWriter
    private let writer: any ObjectWriter
    package private(set) var storedSize: Int64 = 0

    package init(envelope: EnvelopeWriter, writer: any ObjectWriter) {
        self.envelope = envelope
        self.writer = writer
    }

    package func start() async throws {
        let head = envelope.start()
        storedSize += Int64(head.count)
        try await writer.write(head)
    }

    package func encode(_ batch: SendableBuffer) async throws -> SendableBuffer {
        let frames = envelope.write(UnsafeRawBufferPointer(rebasing: batch.buffer[0..<batch.count]))
        if !frames.isEmpty {
            storedSize += Int64(frames.count)
            try await writer.write(frames)
        }
        return batch
    }

    package func finish() async throws -> PutOutcome {
        let (tail, _) = envelope.finish()
        storedSize += Int64(tail.count)
        try await writer.write(tail)
        return try await writer.commit(ifAbsent: true)
    }

    package func abort() async {
        await writer.abort()
    }
}

/// Reusable 16 MiB batch buffers for the packs of one backup.
package final class BufferPool: @unchecked Sendable {
    // Used from the backup's consumer task only (PackWriter's init, launch and deinit).
    private var free: [UnsafeMutableRawBufferPointer] = []

    package func take() -> UnsafeMutableRawBufferPointer {
        free.popLast() ?? UnsafeMutableRawBufferPointer.allocate(byteCount: PackWriter.batchBytes, alignment: 64)
    }

    package func give(_ buffer: UnsafeMutableRawBufferPointer) { free.append(buffer) }

    deinit { for b in free { b.deallocate() } }
}
