import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage
import TidemarkSystem

/// One pack being written to one repository: records appended to an uncompressed, digest-less
/// envelope (kind `filesPack`) whose frames are streamed to the store as they are sealed.
///
/// Records are compressed (or not) before they get here, once for every repository; the
/// envelope only encrypts, so every frame has the same size and a chunk can later be read by
/// range (`EnvelopeRangeReader`). The envelope seals 16 frames (4 MiB) at a time in parallel;
/// the store writes run in a chain of tasks, each after the previous, so encrypting the next
/// batch overlaps writing the last one. Used from `RepositoryChunkStore`'s actor only.
final class FilesPackWriter {
    let id: String
    let key: String
    let repository: FilesRepository
    private var envelope: EnvelopeWriter
    private let writer: Task<any ObjectWriter, any Error>
    private var tail: Task<Void, any Error>
    /// Plaintext bytes so far.
    private(set) var size = 0
    private(set) var entries: [FilesIndexEntry] = []
    /// Bytes handed to the write chain since it was last drained.
    private(set) var queued = 0

    init(stanza: String, repository: FilesRepository) {
        id = hexString(randomBytes(16))
        key = FilesLayout.pack(stanza, id)
        self.repository = repository
        envelope = EnvelopeWriter(key: repository.key, kind: .filesPack, compression: .none, chunkSize: FilesPackFormat.frameSize,
                                  batchChunks: 16, digest: .none)
        let (store, key) = (repository.store, key)
        let writer = Task { try await store.makeWriter(key) }
        self.writer = writer
        var head = envelope.start()
        head += envelope.write(FilesPackFormat.magic)
        size = FilesPackFormat.magic.count
        let first = head
        tail = Task { try await writer.value.write(first) }
    }

    /// Appends a record; returns its index entry.
    @discardableResult
    func append(_ record: FilesPackFormat.Record) -> FilesIndexEntry {
        let entry = FilesIndexEntry(id: record.id, pack: id, offset: UInt32(size), length: UInt32(record.bytes.count),
                                    rawLength: UInt32(record.rawLength), compressed: record.compressed)
        let frames = record.bytes.withUnsafeBytes { envelope.writeFrames($0) }
        size += record.bytes.count
        entries.append(entry)
        if !frames.isEmpty { chain(frames) }
        return entry
    }

    private func chain(_ frames: [[UInt8]]) {
        let (previous, writer) = (tail, self.writer)
        queued += frames.reduce(0) { $0 + $1.count }
        tail = Task {
            try await previous.value
            try await writer.value.write(contentsOf: frames)
        }
    }

    /// The write of every frame handed over so far: awaiting it bounds the memory in flight
    /// (`markDrained` after).
    var writes: Task<Void, any Error> { tail }
    func markDrained() { queued = 0 }

    /// Seals the envelope; the task commits the pack (conditional create) and returns its
    /// entries once it is durable. The writer must not be used afterwards.
    func seal() -> Task<(pack: String, entries: [FilesIndexEntry]), any Error> {
        let (frames, _) = envelope.finishFrames()
        let (previous, writer, entries, key, name) = (tail, self.writer, self.entries, self.key, repository.name)
        let packID = id
        return Task {
            let w = try await writer.value
            do {
                try await previous.value
                guard try await w.commit(ifAbsent: true, afterWriting: frames) == .created else {
                    throw TidemarkError(.conflict, "pack '\(key)' already exists in repository '\(name)'")
                }
            } catch {
                await w.abort()
                throw TidemarkError.wrap(error, doing: "write pack '\(key)' in repository '\(name)'")
            }
            return (packID, entries)
        }
    }

    /// Gives up the pack: nothing becomes visible under its key. Await the task.
    func abort() -> Task<Void, Never> {
        let (previous, writer) = (tail, self.writer)
        return Task {
            _ = try? await previous.value
            if let w = try? await writer.value { await w.abort() }
        }
    }
}
