import Testing
import TidemarkCodec
import TidemarkCore
import TidemarkTesting
@testable import TidemarkFiles

@Suite("Files prune")
struct FilesPruneTests {
    @Test func packsWithoutLiveChunksGoMostlyGarbageOnesAreRewrittenTheRestStay() {
        let usage = [
            FilesPackUsage(pack: "a", bytes: 100, chunks: 4, liveBytes: 0, liveChunks: 0),
            FilesPackUsage(pack: "b", bytes: 100, chunks: 4, liveBytes: 30, liveChunks: 1),
            FilesPackUsage(pack: "c", bytes: 100, chunks: 4, liveBytes: 50, liveChunks: 2),
            FilesPackUsage(pack: "d", bytes: 100, chunks: 4, liveBytes: 100, liveChunks: 4),
        ]
        let plan = FilesPrunePlan.decide(usage, unindexed: ["e", "a"])
        #expect(plan.delete == ["a", "e"])
        #expect(plan.rewrite == ["b"])
        #expect(plan.keep == ["c", "d"])
        #expect(plan.bytesFreed == 100 + 70)
        #expect(plan.bytesCopied == 30)
        #expect(FilesPrunePlan.decide(usage.filter { $0.pack == "d" }).changesAnything == false)
    }

    /// Three flushes (three pages); then most chunks of the first run are dropped.
    @Test func pruneKeepsEveryReferencedChunkReadableAndNoPageNamesAMissingPack() async throws {
        let memory = MemoryStore()
        let repository = FilesRepository(name: "local", store: memory, key: .generate())
        let store = try await RepositoryChunkStore.open(stanza: "main", repositories: [repository])
        var chunks: [ChunkID: [UInt8]] = [:]
        var runs: [[ChunkID]] = []
        for run in 0..<3 {
            var ids: [ChunkID] = []
            for i in 0..<12 {
                let bytes = FilesChunkerTests.random(700_000, seed: UInt64(1000 * run + i))
                let id = store.id(of: bytes)
                chunks[id] = bytes
                ids.append(id)
                try await store.put(id, bytes: bytes, compressible: false)
            }
            try await store.flush()
            runs.append(ids)
        }
        // An interrupted backup's pack: sealed, never indexed.
        let orphan = try await RepositoryChunkStore.open(stanza: "main", repositories: [repository])
        for i in 0..<25 {
            let bytes = FilesChunkerTests.random(700_000, seed: UInt64(9000 + i))
            try await orphan.put(orphan.id(of: bytes), bytes: bytes, compressible: false)
        }
        await orphan.abort()
        // Live: two of run 0's chunks, all of run 1, nothing of run 2.
        let live = Set(runs[0].prefix(2) + runs[1])
        let packsBefore = Set(FilesChunkStoreTests.packKeys(memory))
        let report = try await FilesPrune.run(stanza: "main", repository: repository, secret: store.secret) { live.contains($0) }
        #expect(report.chunksCopied == 2)
        #expect(!report.plan.rewrite.isEmpty)
        #expect(!report.plan.delete.isEmpty)
        let packsAfter = Set(FilesChunkStoreTests.packKeys(memory))
        #expect(packsAfter.count < packsBefore.count)
        for key in FilesChunkStoreTests.pageKeys(memory) {
            for entry in try await FilesIndexPage.read(key, from: repository).entries {
                #expect(packsAfter.contains(FilesLayout.pack("main", entry.pack)))
            }
        }
        let reopened = try await RepositoryChunkStore.open(stanza: "main", repositories: [repository])
        for id in live { #expect(try await reopened.chunk(id) == chunks[id]) }
        for id in runs[2] { #expect(try await reopened.contains(id) == false) }
        // A second run has nothing left to do.
        let again = try await FilesPrune.run(stanza: "main", repository: repository, secret: store.secret) { live.contains($0) }
        #expect(again.plan.rewrite.isEmpty && again.plan.delete.isEmpty)
    }

    @Test func aDryRunChangesNothing() async throws {
        let memory = MemoryStore()
        let repository = FilesRepository(name: "local", store: memory, key: .generate())
        let store = try await RepositoryChunkStore.open(stanza: "main", repositories: [repository])
        let bytes = FilesChunkerTests.random(10_000, seed: 1)
        try await store.put(store.id(of: bytes), bytes: bytes, compressible: true)
        try await store.flush()
        let before = memory.snapshot
        let report = try await FilesPrune.run(stanza: "main", repository: repository, secret: store.secret, dryRun: true) { _ in false }
        #expect(report.plan.delete.count == 1)
        #expect(memory.snapshot == before)
    }
}
