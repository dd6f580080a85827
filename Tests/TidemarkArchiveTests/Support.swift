import TidemarkCodec
import TidemarkRepository
import TidemarkArchive
import TidemarkTesting
import TidemarkCore

/// Fast key derivation for unit-test repositories.
let fastKDF = ScryptParameters(logN: 10)

func makeArchive(store: MemoryStore = MemoryStore(), stanza: String = "main") async throws -> (WALArchive, MemoryStore) {
    let repo = try await Repository.initialize(store: store, passphrase: testPassphrase, parameters: fastKDF)
    return (WALArchive(repository: repo, stanza: stanza, compression: .lz4), store)
}
