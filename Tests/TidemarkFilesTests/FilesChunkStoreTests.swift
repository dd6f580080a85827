import Synchronization
import Testing
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkTesting
@testable import TidemarkFiles

@Suite("Files chunk store")
struct FilesChunkStoreTests {
    static let stanza = "main"

    /// Chunks of every sort: compressible text, random bytes, a few large ones.
    static func chunks(count: Int, seed: UInt64) -> [(bytes: [UInt8], compressible: Bool)] {
        var g = SeededGenerator(seed: seed)
        return (0..<count).map { i in
            let size = i % 25 == 0 ? Int.random(in: (1 << 20)...(3 << 20), using: &g) : Int.random(in: 1...(200 << 10), using: &g)
            if i % 3 == 0 {
                let line = Array("line \(i) of a compressible document\n".utf8)
                return (Array((0..<(size / line.count + 1)).flatMap { _ in line }.prefix(size)), true)
            }
            return (FilesChunkerTests.random(size, seed: g.next()), i % 2 == 0)
        }
    }

    static func pageKeys(_ store: MemoryStore) -> [String] {
        store.snapshot.keys.filter { $0.hasPrefix(FilesLayout.indexPrefix(stanza)) }.sorted()
    }

    static func packKeys(_ store: MemoryStore) -> [String] {
        store.snapshot.keys.filter { $0.hasPrefix(FilesLayout.packPrefix(stanza)) }.sorted()
    }

    @Test func manyChunksRoundTripThroughTheMemoryAndFileSystemStores() async throws {
        let dir = try ScratchDirectory(prefix: "tidemark-files-store")
        let memory = MemoryStore()
        let repositories = [
            FilesRepository(name: "memory", store: memory, key: .generate()),
            FilesRepository(name: "local", store: FileSystemStore(root: dir.path), key: .generate()),
        ]
        let store = try await RepositoryChunkStore.open(stanza: Self.stanza, repositories: repositories)
        let chunks = Self.chunks(count: 240, seed: 1)
        var ids: [ChunkID] = []
        for c in chunks {
            let id = store.id(of: c.bytes)
            ids.append(id)
            try await store.put(id, bytes: c.bytes, compressible: c.compressible)
            #expect(try await store.contains(id))
        }
        try await store.flush()
        let stats = await store.statistics
        #expect(stats.chunksStored == Set(ids).count)
        #expect(stats.bytesStored < stats.bytesOffered)
        let memoryPacks = Self.packKeys(memory)
        #expect(memoryPacks.count >= 2)
        // A store opened afresh reads the index pages and every chunk, from either repository.
        for order in [repositories, repositories.reversed()] {
            let reopened = try await RepositoryChunkStore.open(stanza: Self.stanza, repositories: Array(order))
            #expect(reopened.secret == store.secret)
            for (i, c) in chunks.enumerated() {
                #expect(try await reopened.contains(ids[i]))
                #expect(try await reopened.chunk(ids[i]) == c.bytes)
            }
        }
        // The secret is the same in both repositories.
        #expect(try await FilesSecretStore.read(stanza: Self.stanza, repositories[0]) == FilesSecretStore.read(stanza: Self.stanza, repositories[1]))
    }

    @Test func aChunkPutTwiceIsStoredOnce() async throws {
        let memory = MemoryStore()
        let repositories = [FilesRepository(name: "memory", store: memory, key: .generate())]
        let store = try await RepositoryChunkStore.open(stanza: Self.stanza, repositories: repositories)
        let bytes = FilesChunkerTests.random(100_000, seed: 7)
        let id = store.id(of: bytes)
        try await store.put(id, bytes: bytes, compressible: false)
        try await store.put(id, bytes: bytes, compressible: false)
        try await store.flush()
        #expect(await store.statistics.chunksStored == 1)
        let reopened = try await RepositoryChunkStore.open(stanza: Self.stanza, repositories: repositories)
        try await reopened.put(id, bytes: bytes, compressible: false)
        try await reopened.flush()
        #expect(await reopened.statistics.chunksStored == 0)
        let pages = Self.pageKeys(memory)
        #expect(pages.count == 1)
        let page = try await FilesIndexPage.read(pages[0], from: repositories[0])
        #expect(page.entries.map(\.id) == [id])
    }

    /// One repository with `count` chunks stored; returns the chunks and their entries.
    static func filled(_ memory: MemoryStore, key: RepositoryKey, count: Int = 40) async throws
        -> (repository: FilesRepository, chunks: [[UInt8]], ids: [ChunkID], entries: [FilesIndexEntry]) {
        let repository = FilesRepository(name: "first", store: memory, key: key)
        let store = try await RepositoryChunkStore.open(stanza: stanza, repositories: [repository])
        var chunks: [[UInt8]] = []
        var ids: [ChunkID] = []
        for i in 0..<count {
            let bytes = FilesChunkerTests.random(600_000, seed: 100 + UInt64(i))
            chunks.append(bytes)
            ids.append(store.id(of: bytes))
            try await store.put(ids[i], bytes: bytes, compressible: false)
        }
        try await store.flush()
        var entries: [FilesIndexEntry] = []
        for key in pageKeys(memory) { entries += try await FilesIndexPage.read(key, from: repository).entries }
        return (repository, chunks, ids, entries)
    }

    @Test func aFlippedBitInAPackIsCaughtNamingThePackAndTheNextRepositoryServes() async throws {
        let memory = MemoryStore()
        let (repository, chunks, ids, entries) = try await Self.filled(memory, key: .generate())
        let victim = try #require(entries.first { $0.id == ids[5] })
        let packKey = FilesLayout.pack(Self.stanza, victim.pack)
        // Flip a bit in the middle of the record's stored bytes (well inside a frame).
        let reader = try EnvelopeRangeReader(headerBytes: Array(try #require(memory.snapshot[packKey]).prefix(80)), key: repository.key)
        let stored = reader.storedRange(covering: Int64(victim.offset)..<Int64(victim.offset + victim.length))
        memory.tamper(packKey) { b in
            var b = b
            b[Int(stored.lowerBound) + 5000] ^= 0x10
            return b
        }
        let alone = try await RepositoryChunkStore.open(stanza: Self.stanza, repositories: [repository])
        let error = await #expect(throws: TidemarkError.self) { try await alone.chunk(ids[5]) }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains(packKey) == true)
        #expect(error?.message.contains("authentication failed") == true)
        // A second repository holding the chunk serves it.
        let second = FilesRepository(name: "second", store: MemoryStore(), key: .generate())
        let both = try await RepositoryChunkStore.open(stanza: Self.stanza, repositories: [repository, second])
        #expect(try await both.contains(ids[5]) == false)
        try await both.put(ids[5], bytes: chunks[5], compressible: false)
        try await both.flush()
        #expect(try await both.chunk(ids[5]) == chunks[5])
    }

    @Test func aWrongKeyIsRejected() async throws {
        let memory = MemoryStore()
        _ = try await Self.filled(memory, key: .generate(), count: 2)
        let error = await #expect(throws: TidemarkError.self) {
            _ = try await RepositoryChunkStore.open(stanza: Self.stanza, repositories: [FilesRepository(name: "first", store: memory, key: .generate())])
        }
        #expect(error?.code == .wrongKey)
        #expect(error?.message.contains("files/config") == true)
    }

    @Test func aTruncatedPackIsRejected() async throws {
        let memory = MemoryStore()
        let (repository, chunks, ids, entries) = try await Self.filled(memory, key: .generate())
        let last = try #require(entries.max { $0.offset < $1.offset })
        let packKey = FilesLayout.pack(Self.stanza, last.pack)
        memory.tamper(packKey) { Array($0.prefix(Int(last.offset) + 1000)) }
        let store = try await RepositoryChunkStore.open(stanza: Self.stanza, repositories: [repository])
        let error = await #expect(throws: TidemarkError.self) { try await store.chunk(last.id) }
        #expect(error?.message.contains(packKey) == true)
        // Chunks before the cut still read (each is authenticated on its own).
        let first = try #require(entries.first { $0.pack == last.pack && $0.offset == 8 })
        let i = try #require(ids.firstIndex(of: first.id))
        #expect(try await store.chunk(first.id) == chunks[i])
    }

    @Test func anAbortLeavesNoIndexPagePointingAtAMissingPack() async throws {
        let memory = MemoryStore()
        let repository = FilesRepository(name: "first", store: memory, key: .generate())
        let store = try await RepositoryChunkStore.open(stanza: Self.stanza, repositories: [repository])
        var ids: [ChunkID] = []
        for i in 0..<30 {
            let bytes = FilesChunkerTests.random(900_000, seed: 300 + UInt64(i))
            ids.append(store.id(of: bytes))
            try await store.put(ids[i], bytes: bytes, compressible: false)
            if i == 9 { try await store.flush() }
        }
        // Killed before the second flush: packs sealed meanwhile may stay, no page names them.
        await store.abort()
        let pages = Self.pageKeys(memory)
        #expect(pages.count == 1)
        let packs = Set(Self.packKeys(memory))
        for key in pages {
            for entry in try await FilesIndexPage.read(key, from: repository).entries {
                #expect(packs.contains(FilesLayout.pack(Self.stanza, entry.pack)))
            }
        }
        let reopened = try await RepositoryChunkStore.open(stanza: Self.stanza, repositories: [repository])
        #expect(try await reopened.contains(ids[9]))
        #expect(try await reopened.contains(ids[10]) == false)
        #expect(try await reopened.contains(ids[29]) == false)
        let error = await #expect(throws: TidemarkError.self) { try await reopened.chunk(ids[20]) }
        #expect(error?.code == .notFound)
    }
    /// Reads of neighbouring chunks share the frames at their ends: 8 at a time in pack order,
    /// every chunk (and a repeat of some) comes back exactly, and no frame is fetched twice:
    /// the ranged reads of packs add up to at most the packs' sizes (one read per chunk of its
    /// covering frames would fetch several times that: most chunks are far smaller than a frame).
    @Test func concurrentReadsInPackOrderFetchEachFrameOnceAndReturnExactBytes() async throws {
        let memory = MemoryStore()
        let repository = FilesRepository(name: "first", store: memory, key: .generate())
        let writer = try await RepositoryChunkStore.open(stanza: Self.stanza, repositories: [repository])
        let chunks = Self.chunks(count: 240, seed: 3)
        let ids = chunks.map { writer.id(of: $0.bytes) }
        for (id, c) in zip(ids, chunks) { try await writer.put(id, bytes: c.bytes, compressible: c.compressible) }
        try await writer.flush()
        var entries: [FilesIndexEntry] = []
        for key in Self.pageKeys(memory) { entries += try await FilesIndexPage.read(key, from: repository).entries }
        let fetched = Mutex(0)
        let counted = InstrumentedStore(wrapping: memory) { call in
            if call.operation == .getRange, call.key.hasPrefix(FilesLayout.packPrefix(Self.stanza)) {
                fetched.withLock { $0 += call.bytes }
            }
        }
        let store = try await RepositoryChunkStore.open(stanza: Self.stanza, repositories: [
            FilesRepository(name: repository.name, store: counted, key: repository.key),
        ])
        let byID = Dictionary(ids.enumerated().map { ($1, chunks[$0].bytes) }, uniquingKeysWith: { a, _ in a })
        let order = entries.sorted { ($0.pack, $0.offset) < ($1.pack, $1.offset) }.map(\.id)
        let reads = order + order.prefix(12)
        let got = try await boundedMap(reads, width: 8) { id in try await store.chunk(id) }
        #expect(got.count == reads.count)
        for (id, bytes) in zip(reads, got) { #expect(bytes == byID[id]) }
        let packBytes = Self.packKeys(memory).reduce(0) { $0 + (memory.snapshot[$1]?.count ?? 0) }
        #expect(fetched.withLock { $0 } <= packBytes)
        #expect(fetched.withLock { $0 } > packBytes / 2)
    }
}
