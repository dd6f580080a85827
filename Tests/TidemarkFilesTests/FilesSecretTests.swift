import Testing
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkFiles

@Suite("Files secret")
struct FilesSecretTests {
    @Test func theSecretIsCreatedOnceAndCopiedToEveryRepository() async throws {
        let a = FilesRepository(name: "a", store: MemoryStore(), key: .generate())
        let b = FilesRepository(name: "b", store: MemoryStore(), key: .generate())
        #expect(try await FilesSecretStore.read(stanza: "main", a) == nil)
        let first = try await FilesSecretStore.load(stanza: "main", repositories: [a])
        // b lacks it: it gets a's.
        let both = try await FilesSecretStore.load(stanza: "main", repositories: [b, a])
        #expect(both == first)
        #expect(try await FilesSecretStore.read(stanza: "main", b) == first)
        // Kept as an envelope of kind filesConfig, not in the clear.
        let stored = try #require(await b.store.get(FilesLayout.config("main")))
        #expect(try EnvelopeHeader(parsing: Array(stored.prefix(80))).kind == .filesConfig)
        #expect(!stored.contains(first.bytes))
    }

    @Test func aRacingCreatorsSecretWins() async throws {
        let a = FilesRepository(name: "a", store: MemoryStore(), key: .generate())
        let winner = try await FilesSecretStore.create(stanza: "main", a, .generate())
        let loser = FilesSecret.generate()
        #expect(try await FilesSecretStore.create(stanza: "main", a, loser) == winner)
    }

    @Test func aRepositoryWithAnotherSecretIsRefusedByName() async throws {
        let a = FilesRepository(name: "primary", store: MemoryStore(), key: .generate())
        let b = FilesRepository(name: "offsite", store: MemoryStore(), key: .generate())
        _ = try await FilesSecretStore.load(stanza: "main", repositories: [a])
        _ = try await FilesSecretStore.load(stanza: "main", repositories: [b])
        let error = await #expect(throws: TidemarkError.self) {
            _ = try await FilesSecretStore.load(stanza: "main", repositories: [a, b])
        }
        #expect(error?.code == .conflict)
        #expect(error?.message.contains("'offsite'") == true)
        #expect(error?.message.contains("'primary'") == true)
        #expect(error?.hints.first?.contains("main/files/") == true)
    }
}

extension Array where Element == UInt8 {
    func contains(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { Array(self[$0..<($0 + needle.count)]) == needle }
    }
}
