import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage
import TidemarkSystem

/// The repository-backed `ChunkSink` and `ChunkSource`: chunks in packs and index pages in
/// every repository of the stanza (docs/format.md, "File backups").
///
/// `put` compresses a chunk once and appends its record to the open pack of each repository
/// that lacks it (encrypted under each repository's key); a pack reaching 16 MiB is sealed in
/// the background, at most `maxSealing` per repository at a time. `flush` seals the open packs,
/// waits until every pack is durable and only then writes the index page(s) naming their
/// chunks, so a crash at any point leaves no page pointing at a missing pack (packs without a
/// page are garbage that expire removes). `chunk` reads one chunk by range from the first
/// repository that has it, checks its keyed id and falls back to the next repository when
/// the first is damaged. Reads may run concurrently: they share the frames they both need.
public actor RepositoryChunkStore: ChunkSink, ChunkSource {
    public nonisolated let stanza: String
    public nonisolated let secret: FilesSecret
    private let repositories: [FilesRepository]
    private let level: Int32
    private let maxSealing: Int
    private var indexes: [FilesIndex]
    /// Per repository: chunks in packs not yet named by an index page (open, sealing or sealed).
    private var unindexed: [[ChunkID: FilesIndexEntry]]
    private var open: [FilesPackWriter?]
    private var sealing: [[Task<(pack: String, entries: [FilesIndexEntry]), any Error>]]
    private var sealed: [[FilesIndexEntry]]
    private let reader: FilesChunkReader
    public private(set) var statistics = FilesStoreStatistics()
    /// Index pages written by `flush`.
    public private(set) var pagesWritten = 0

    /// Opens the stanza's file storage: the secret (created on first use) and every
    /// repository's index.
    public static func open(stanza: String, repositories: [FilesRepository], compressionLevel: Int32 = 3) async throws -> RepositoryChunkStore {
        guard !repositories.isEmpty else {
            throw TidemarkError(.configuration, "file backups need at least one repository")
        }
        let secret = try await FilesSecretStore.load(stanza: stanza, repositories: repositories)
        var indexes: [FilesIndex] = []
        for repository in repositories { indexes.append(try await FilesIndex.load(stanza: stanza, from: repository)) }
        return RepositoryChunkStore(stanza: stanza, repositories: repositories, secret: secret, indexes: indexes,
                                    compressionLevel: compressionLevel)
    }

    /// One repository's file storage for reading (expire's walk of the kept snapshots): its
    /// index loaded, `secret` as read by the caller; nothing is created.
    public static func reading(stanza: String, repository: FilesRepository, secret: FilesSecret) async throws -> RepositoryChunkStore {
        RepositoryChunkStore(stanza: stanza, repositories: [repository], secret: secret,
                             indexes: [try await FilesIndex.load(stanza: stanza, from: repository)], compressionLevel: 3)
    }

    init(stanza: String, repositories: [FilesRepository], secret: FilesSecret, indexes: [FilesIndex], compressionLevel: Int32,
         maxSealing: Int = 2) {
        self.stanza = stanza
        self.secret = secret
        self.repositories = repositories
        self.indexes = indexes
        level = compressionLevel
        self.maxSealing = maxSealing
        unindexed = Array(repeating: [:], count: repositories.count)
        open = Array(repeating: nil, count: repositories.count)
        sealing = Array(repeating: [], count: repositories.count)
        sealed = Array(repeating: [], count: repositories.count)
        reader = FilesChunkReader(stanza: stanza, secret: secret, repositories: repositories)
    }

    /// A chunker keyed like this store's ids.
    public nonisolated func makeChunker() -> FilesChunker { FilesChunker(secret: secret) }

    public nonisolated func id(of bytes: [UInt8]) -> ChunkID { secret.chunkID(of: bytes) }

    /// Whether every repository has the chunk (indexed, or in a pack being written).
    public func contains(_ id: ChunkID) async throws -> Bool {
        (0..<repositories.count).allSatisfy { has(id, in: $0) }
    }

    private func has(_ id: ChunkID, in r: Int) -> Bool { unindexed[r][id] != nil || indexes[r].contains(id) }

    public func put(_ id: ChunkID, bytes: [UInt8], compressible: Bool) async throws {
        let lacking = (0..<repositories.count).filter { !has(id, in: $0) }
        statistics.chunksOffered += 1
        statistics.bytesOffered += Int64(bytes.count)
        guard !lacking.isEmpty else { return }
        let record = FilesPackFormat.record(id: id, plaintext: bytes, compressible: compressible, level: level)
        statistics.chunksStored += 1
        statistics.bytesStored += Int64(record.bytes.count)
        var waits: [Int] = []
        for r in lacking {
            let pack = open[r] ?? FilesPackWriter(stanza: stanza, repository: repositories[r])
            open[r] = pack
            unindexed[r][id] = pack.append(record)
            if pack.size >= FilesPackFormat.targetSize {
                open[r] = nil
                sealing[r].append(pack.seal())
                if sealing[r].count > maxSealing { waits.append(r) }
            } else if pack.queued >= 2 * FilesPackFormat.targetSize {
                let writes = pack.writes
                pack.markDrained()
                try await writes.value
            }
        }
        // State is consistent before any wait: a put running meanwhile sees these chunks.
        for r in waits where sealing[r].count > maxSealing {
            let first = sealing[r].removeFirst()
            sealed[r] += try await first.value.entries
        }
    }

    /// Seals the open packs, waits for every pack and writes the index pages naming them.
    public func flush() async throws {
        for r in 0..<repositories.count {
            if let pack = open[r] {
                open[r] = nil
                sealing[r].append(pack.seal())
            }
        }
        for r in 0..<repositories.count {
            while !sealing[r].isEmpty {
                let first = sealing[r].removeFirst()
                sealed[r] += try await first.value.entries
            }
            let entries = sealed[r]
            sealed[r] = []
            var start = 0
            while start < entries.count {
                let part = Array(entries[start..<min(entries.count, start + FilesIndexPage.maxEntries)])
                start += part.count
                try await writePage(part, repository: r)
            }
        }
    }

    private func writePage(_ entries: [FilesIndexEntry], repository r: Int) async throws {
        let (key, page) = try await Self.writePage(entries, stanza: stanza, repository: repositories[r])
        pagesWritten += 1
        indexes[r].append(page: key, page)
        for e in entries { unindexed[r][e.id] = nil }
    }

    /// Writes one index page (conditional create, a fresh random id); returns its key and content.
    @discardableResult
    static func writePage(_ entries: [FilesIndexEntry], stanza: String, repository: FilesRepository) async throws
        -> (key: String, page: FilesIndexPage.Page) {
        let plaintext = FilesIndexPage.encode(entries)
        let key = FilesLayout.index(stanza, hexString(randomBytes(16)))
        let bytes = encodeEnvelope(plaintext, key: repository.key, kind: .filesIndex, compression: .zstd).bytes
        do {
            guard try await repository.store.put(key, bytes: bytes, ifAbsent: true) == .created else {
                throw TidemarkError(.conflict, "index page '\(key)' already exists")
            }
        } catch {
            throw TidemarkError.wrap(error, doing: "write index page '\(key)' in repository '\(repository.name)'")
        }
        return (key, try FilesIndexPage.parse(plaintext, name: key))
    }

    /// Gives up what was put since the last flush: open packs are discarded, no index page is
    /// written (packs already sealed stay, unreferenced, until expire removes them).
    public func abort() async {
        for r in 0..<repositories.count {
            if let pack = open[r] {
                open[r] = nil
                await pack.abort().value
            }
            for task in sealing[r] { _ = try? await task.value }
            sealing[r] = []
            sealed[r] = []
            unindexed[r] = [:]
        }
    }

    public func chunk(_ id: ChunkID) async throws -> [UInt8] {
        var failures: [String] = []
        for r in 0..<repositories.count {
            let repository = repositories[r]
            do {
                guard let entry = try await locate(id, in: r) else {
                    failures.append("repository '\(repository.name)' does not have it")
                    continue
                }
                do {
                    return try await read(entry, from: r)
                } catch {
                    failures.append("repository '\(repository.name)': pack '\(FilesLayout.pack(stanza, entry.pack))': \(error)")
                }
            } catch {
                failures.append("repository '\(repository.name)': \(error)")
            }
        }
        let missing = failures.allSatisfy { $0.hasSuffix("does not have it") }
        throw TidemarkError(missing ? .notFound : .corrupt, "chunk \(id) cannot be read: " + failures.joined(separator: "; "),
                            hints: missing ? ["The snapshot names a chunk no repository holds; run `tidemark verify`."]
                                : ["Run `tidemark verify` to find every damaged pack; a file backup writes missing chunks again."])
    }

    /// The chunk's index entry in repository `r` (reading its index page if it is not cached).
    private func locate(_ id: ChunkID, in r: Int) async throws -> FilesIndexEntry? {
        if let pending = unindexed[r][id] { return sealedOnly(pending, r) }
        guard let number = indexes[r].pageNumber(of: id) else { return nil }
        if let page = indexes[r].cached(number) { return page.find(id) }
        let page = try await FilesIndexPage.read(indexes[r].pages[number], from: repositories[r])
        indexes[r].remember(number, page)
        return page.find(id)
    }

    /// Chunks of packs not yet durable cannot be read.
    private func sealedOnly(_ entry: FilesIndexEntry, _ r: Int) -> FilesIndexEntry? {
        sealed[r].contains { $0.pack == entry.pack } ? entry : nil
    }

    /// One chunk by range (`FilesChunkReader`: frames shared by neighbouring chunks read once).
    private func read(_ entry: FilesIndexEntry, from r: Int) async throws -> [UInt8] {
        try await reader.chunk(entry, from: r)
    }

    /// Ranged reads of pack frames so far (for tests).
    var frameReads: Int { get async { await reader.frameReads } }
}

/// What a store did since it was opened (for a backup's summary).
public struct FilesStoreStatistics: Sendable, Equatable {
    /// Chunks and bytes `put` was given, including those already stored.
    public var chunksOffered = 0
    public var bytesOffered: Int64 = 0
    /// Chunks newly written and their record bytes (after compression), once however many
    /// repositories they went to.
    public var chunksStored = 0
    public var bytesStored: Int64 = 0
}
