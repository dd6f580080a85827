import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem

/// Reads chunks from packs by range for `RepositoryChunkStore`: the pack's header (80 bytes,
/// cached per pack), then only the frames that cover the chunk's record, each authenticated;
/// then the record's header against the index entry, then the keyed id of the plaintext.
///
/// Neighbouring chunks share the frames at their records' ends (a frame holds 256 KiB, a small
/// file's chunk a few KiB), so the first and last frame of each read are kept (at most
/// `cachedFrames`, oldest out first) and a frame another read is already fetching is awaited,
/// not fetched again: a restore reading chunks in pack order fetches and decrypts each frame
/// once. The frames of one read are fetched in one ranged read; decryption, decompression and
/// the id check run on `BlockingPool` threads, so several reads proceed in parallel.
actor FilesChunkReader {
    struct FrameKey: Hashable {
        var repository: Int
        var pack: String
        var frame: Int64
    }

    private let stanza: String
    private let secret: FilesSecret
    private let repositories: [FilesRepository]
    private let pool: BlockingPool
    private let cachedFrames: Int
    private var headers: [FrameKey: EnvelopeRangeReader] = [:]
    private var frames: [FrameKey: [UInt8]] = [:]
    private var order: [FrameKey] = []
    private var fetching: [FrameKey: (task: Task<[[UInt8]], any Error>, at: Int)] = [:]
    /// Ranged reads of pack frames so far (for tests).
    private(set) var frameReads = 0

    init(stanza: String, secret: FilesSecret, repositories: [FilesRepository], pool: BlockingPool = .shared, cachedFrames: Int = 64) {
        self.stanza = stanza
        self.secret = secret
        self.repositories = repositories
        self.pool = pool
        self.cachedFrames = cachedFrames
    }

    /// The chunk `entry` names, from repository `r`, authenticated.
    func chunk(_ entry: FilesIndexEntry, from r: Int) async throws -> [UInt8] {
        let reader = try await header(entry.pack, r)
        let range = Int64(entry.offset)..<(Int64(entry.offset) + Int64(entry.length))
        let indices = reader.frameIndices(covering: range)
        let key = { (frame: Int64) in FrameKey(repository: r, pack: entry.pack, frame: frame) }
        var parts = [[UInt8]?](repeating: nil, count: indices.count)
        var waits: [(slot: Int, task: Task<[[UInt8]], any Error>, at: Int)] = []
        var missing: [Int64] = []
        for (slot, i) in indices.enumerated() {
            if let frame = frames[key(i)] {
                parts[slot] = frame
            } else if let pending = fetching[key(i)] {
                waits.append((slot, pending.task, pending.at))
            } else {
                missing.append(i)
            }
        }
        // Missing frames in runs of consecutive ones, one ranged read each.
        var start = 0
        while start < missing.count {
            var end = start
            while end + 1 < missing.count, missing[end + 1] == missing[end] + 1 { end += 1 }
            let run = missing[start]...missing[end]
            let task = fetch(run, of: entry.pack, from: r, reader: reader)
            for (at, i) in run.enumerated() {
                fetching[key(i)] = (task, at)
                waits.append((Int(i - indices.lowerBound), task, at))
            }
            start = end + 1
        }
        for w in waits {
            let fetched: [[UInt8]]
            do { fetched = try await w.task.value } catch {
                forget(w.task)
                throw error
            }
            let frame = fetched[w.at]
            parts[w.slot] = frame
            // Kept before the fetch is forgotten (no suspension between): a neighbour's read
            // finds it in one or the other.
            if w.slot == 0 || w.slot == parts.count - 1 { remember(key(indices.lowerBound + Int64(w.slot)), frame) }
            forget(w.task)
        }
        let got = parts.compactMap { $0 }
        let record = try reader.plaintext(range, frames: got)
        let secret = self.secret
        return try await pool.run("decode chunk \(entry.id)") {
            let plaintext = try FilesPackFormat.plaintext(of: record, entry: entry)
            guard secret.chunkID(of: plaintext) == entry.id else {
                throw EnvelopeError.corrupt("chunk \(entry.id) does not match its keyed id")
            }
            return plaintext
        }
    }

    private func fetch(_ run: ClosedRange<Int64>, of pack: String, from r: Int, reader: EnvelopeRangeReader) -> Task<[[UInt8]], any Error> {
        frameReads += 1
        let (store, key, pool) = (repositories[r].store, FilesLayout.pack(stanza, pack), pool)
        return Task {
            guard let stored = try await store.get(key, range: reader.storedRange(frames: run)) else {
                throw TidemarkError(.notFound, "the pack is missing")
            }
            return try await pool.run("decrypt pack frames") { try reader.frames(run, from: stored) }
        }
    }

    /// Drops the fetch entries of a finished `task` (its frames are cached by the reads that
    /// asked for them; a failed fetch is tried afresh by the next read).
    private func forget(_ task: Task<[[UInt8]], any Error>) {
        for (k, v) in fetching where v.task == task { fetching[k] = nil }
    }

    private func remember(_ key: FrameKey, _ frame: [UInt8]) {
        guard frames.updateValue(frame, forKey: key) == nil else { return }
        order.append(key)
        if order.count > cachedFrames { frames[order.removeFirst()] = nil }
    }

    private func header(_ pack: String, _ r: Int) async throws -> EnvelopeRangeReader {
        let k = FrameKey(repository: r, pack: pack, frame: -1)
        if let known = headers[k] { return known }
        let repository = repositories[r]
        guard let head = try await repository.store.get(FilesLayout.pack(stanza, pack), range: 0..<Int64(EnvelopeHeader.size)) else {
            throw TidemarkError(.notFound, "the pack is missing")
        }
        let reader = try EnvelopeRangeReader(headerBytes: head, key: repository.key)
        guard reader.header.kind == .filesPack else { throw EnvelopeError.corrupt("not a pack (kind \(reader.header.kind))") }
        if headers.count > 4096 { headers.removeAll() }
        headers[k] = reader
        return reader
    }
}
