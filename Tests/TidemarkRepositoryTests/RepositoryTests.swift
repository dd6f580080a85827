import Foundation
import Testing
import TidemarkCodec
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkSystem
@testable import TidemarkRepository
import TidemarkCore

@Suite("Repository init and open")
struct RepositoryTests {
    @Test func openWithTheRightKeyWrongKeyAndTamperedConfig() async throws {
        let store = MemoryStore()
        let created = try await Repository.initialize(store: store, passphrase: testPassphrase, parameters: fastKDF)
        let opened = try await Repository.open(store: store, passphrase: testPassphrase)
        #expect(opened.key.id == created.key.id)
        await _ = expectError(.wrongKey) { _ = try await Repository.open(store: store, passphrase: Secret(Array("wrong".utf8))) }
        // Change a field: the MAC must catch it.
        store.tamper(RepositoryLayout.configKey) { bytes in
            Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\"created\" : \"", with: "\"created\" : \"1").utf8)
        }
        await _ = expectError(.corrupt) { _ = try await Repository.open(store: store, passphrase: testPassphrase) }
    }

    @Test func initRefusesAnInitializedOrForeignLocation() async throws {
        let store = MemoryStore()
        _ = try await Repository.initialize(store: store, passphrase: testPassphrase, parameters: fastKDF)
        await _ = expectError(.alreadyExists) { _ = try await Repository.initialize(store: store, passphrase: testPassphrase, parameters: fastKDF) }
        let foreign = MemoryStore()
        _ = try await foreign.put("somebody/else", bytes: [1], ifAbsent: true)
        await _ = expectError(.repository) { _ = try await Repository.initialize(store: foreign, passphrase: testPassphrase, parameters: fastKDF) }
        await _ = expectError(.repository) { _ = try await Repository.open(store: MemoryStore(), passphrase: testPassphrase) }
    }

    @Test func theKeyNeverAppearsInTheRepositoryConfig() async throws {
        let store = MemoryStore()
        let secret = "my-very-secret-passphrase-123"
        _ = try await Repository.initialize(store: store, passphrase: Secret(Array(secret.utf8)), parameters: fastKDF)
        let text = String(decoding: try #require(store.snapshot[RepositoryLayout.configKey]), as: UTF8.self)
        #expect(!text.contains(secret))
    }
}
