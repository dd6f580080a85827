import TidemarkCodec
import TidemarkCore
import TidemarkStorage

/// Reads one chunk from its pack by range: the pack's header (80 bytes, unless the caller has
/// it), then only the frames that cover the chunk's record, each authenticated; then the
/// record's header against the index entry, then the keyed id of the plaintext.
enum FilesChunkReader {
    static func read(_ entry: FilesIndexEntry, stanza: String, from repository: FilesRepository, secret: FilesSecret,
                     header known: EnvelopeRangeReader?) async throws -> (plaintext: [UInt8], header: EnvelopeRangeReader) {
        let key = FilesLayout.pack(stanza, entry.pack)
        let reader: EnvelopeRangeReader
        if let known {
            reader = known
        } else {
            guard let head = try await repository.store.get(key, range: 0..<Int64(EnvelopeHeader.size)) else {
                throw TidemarkError(.notFound, "the pack is missing")
            }
            reader = try EnvelopeRangeReader(headerBytes: head, key: repository.key)
            guard reader.header.kind == .filesPack else { throw EnvelopeError.corrupt("not a pack (kind \(reader.header.kind))") }
        }
        let range = Int64(entry.offset)..<(Int64(entry.offset) + Int64(entry.length))
        guard let stored = try await repository.store.get(key, range: reader.storedRange(covering: range)) else {
            throw TidemarkError(.notFound, "the pack is missing")
        }
        let record = try reader.plaintext(range, from: stored)
        let plaintext = try FilesPackFormat.plaintext(of: record, entry: entry)
        guard secret.chunkID(of: plaintext) == entry.id else {
            throw EnvelopeError.corrupt("chunk \(entry.id) does not match its keyed id")
        }
        return (plaintext, reader)
    }
}
