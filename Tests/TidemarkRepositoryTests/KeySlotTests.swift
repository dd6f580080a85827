import Foundation
import Testing
import TidemarkCodec
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkRepository
import TidemarkCore

/// Generated keys (HKDF: microseconds), so these tests cost no scrypt except where named.
private func generatedKey(_ seed: UInt8) -> Secret {
    Secret(Array(Data((0..<32).map { UInt8(truncatingIfNeeded: Int($0) &* 37 &+ Int(seed) &* 101) }).base64EncodedString().utf8))
}

private let now = Date(timeIntervalSince1970: 1_796_000_000)

/// Configs written by Tidemark before key slots (version 1), with the secrets that open them.
enum GoldenV1 {
    /// `init` with the passphrase `golden v1 passphrase for tests` (scrypt N=2^15).
    static let passphrase = Secret(Array("golden v1 passphrase for tests".utf8))
    static let passphraseConfig = """
        {
          "cipher" : "aes-256-gcm",
          "created" : "2026-12-02T05:47:52Z",
          "format" : "tidemark-repository",
          "mac" : "3e6a296bb9ae53c136891e8d7b5081c5ac3e3286a62701ea3a1242d00124fb66",
          "version" : 1,
          "wrappedKey" : {
            "kdf" : "scrypt",
            "keyID" : "a22a8715a70c6a8f2ef715011cfd0ff8",
            "salt" : "KxT4RHI\\/r3nZm5yhFsKpEpuD+7GqZoAkB44OB0f3XxE=",
            "scrypt" : {
              "logN" : 15,
              "p" : 1,
              "r" : 8
            },
            "sealedKey" : "Ulf2bubbqwPXAUMDI74ARVXaOGHICW7+Wstr0IiDD8HdvSqYlEly6GyW715MdqfcLxR5D25N8O9+I52x"
          }
        }

        """
    /// `init` with a generated key (scrypt N=2^10, as generated keys were wrapped then).
    static let generated = Secret(Array("Z29sZGVuLXYxLWdlbmVyYXRlZC1rZXktZm9yLXRlc3RzLTAxMjM0NTY3ODk=".utf8))
    static let generatedConfig = """
        {
          "cipher" : "aes-256-gcm",
          "created" : "2026-12-02T05:47:53Z",
          "format" : "tidemark-repository",
          "mac" : "e7753d066c96a022589f2de9c28be4de05893ecc5b41e359f90e136a16bc10ed",
          "version" : 1,
          "wrappedKey" : {
            "kdf" : "scrypt",
            "keyID" : "85493a45d4abbcd9819b8970b64921a8",
            "salt" : "DuRDYx61HLgS3txLa5Mxbo0IxOYISHdHgO+5N0mZFt8=",
            "scrypt" : {
              "logN" : 10,
              "p" : 1,
              "r" : 8
            },
            "sealedKey" : "Jj7kBtDq4GFC7BEPgbohunO2BAmIPpSHps26mnCQOmu7gsfCLT7cBo77Hbs4lf2C38iMKCpJlejXbfQd"
          }
        }

        """

    static func store(_ config: String) async throws -> MemoryStore {
        let store = MemoryStore()
        _ = try await store.put(RepositoryLayout.configKey, bytes: Array(config.utf8), ifAbsent: true)
        return store
    }
}

@Suite("Key slots")
struct KeySlotTests {
    func lock(_ store: any ObjectStore) -> RepositoryLock { RepositoryLock(store: store, stanza: "main") }

    @Test func versionOneConfigsOpenUnchangedAsSlotDefault() async throws {
        for (config, secret, id) in [(GoldenV1.passphraseConfig, GoldenV1.passphrase, "a22a8715a70c6a8f2ef715011cfd0ff8"),
                                     (GoldenV1.generatedConfig, GoldenV1.generated, "85493a45d4abbcd9819b8970b64921a8")] {
            let store = try await GoldenV1.store(config)
            let repo = try await Repository.open(store: store, passphrase: secret)
            #expect(repo.key.idHex == id && repo.slot == "default" && repo.config.version == 1)
            #expect(repo.config.keySlots.map(\.name) == ["default"] && repo.config.keyID == id)
            await _ = expectError(.wrongKey) { _ = try await Repository.open(store: store, passphrase: generatedKey(1)) }
            #expect(store.snapshot[RepositoryLayout.configKey] == Array(config.utf8), "opening never rewrites the config")
        }
    }

    @Test func addingASlotToAVersionOneConfigMakesItVersionTwoAndKeepsTheOldWrapping() async throws {
        let store = try await GoldenV1.store(GoldenV1.generatedConfig)
        let before = try #require(try await Repository.readConfig(store: store))
        let recovery = generatedKey(2)
        let line = try await Repository.addKeySlot(named: "recovery", secret: recovery, current: GoldenV1.generated, store: store, lock: lock(store), now: now)
        #expect(line == "added key slot 'recovery' (hkdf-sha256)")
        let after = try #require(try await Repository.readConfig(store: store))
        #expect(after.version == 2 && after.wrappedKey == nil && after.keySlots.map(\.name) == ["default", "recovery"])
        #expect(after.keySlots[0] == before.keySlots[0], "the existing wrapping is kept as it was")
        let viaRecovery = try await Repository.open(store: store, passphrase: recovery)
        let viaOld = try await Repository.open(store: store, passphrase: GoldenV1.generated)
        #expect(viaRecovery.slot == "recovery" && viaOld.slot == "default" && viaRecovery.key.idHex == viaOld.key.idHex)
        // Re-running is harmless; another key under that name, the configured key again, a bad name are refused.
        #expect(try await Repository.addKeySlot(named: "recovery", secret: recovery, current: recovery, store: store, lock: lock(store), now: now)
            == "key slot 'recovery' is already there and opens with this key")
        await _ = expectError(.invalidInput) {
            _ = try await Repository.addKeySlot(named: "recovery", secret: generatedKey(3), current: recovery, store: store, lock: lock(store), now: now)
        }
        await _ = expectError(.invalidInput) {
            _ = try await Repository.addKeySlot(named: "third", secret: recovery, current: GoldenV1.generated, store: store, lock: lock(store), now: now)
        }
        for bad in ["", "-x", "a b", "naïve", String(repeating: "n", count: 65)] {
            await _ = expectError(.invalidInput) {
                _ = try await Repository.addKeySlot(named: bad, secret: generatedKey(4), current: recovery, store: store, lock: lock(store), now: now)
            }
        }
        await _ = expectError(.wrongKey) {
            _ = try await Repository.addKeySlot(named: "fourth", secret: generatedKey(5), current: generatedKey(6), store: store, lock: lock(store), now: now)
        }
        #expect(try #require(try await Repository.readConfig(store: store)).keySlots.count == 2)
    }

    @Test func initWritesVersionTwoWithOneSlotAndHKDFForAGeneratedKey() async throws {
        let store = MemoryStore()
        let created = try await Repository.initialize(store: store, passphrase: generatedKey(7), now: now)
        #expect(created.config.version == 2 && created.config.keySlots.map(\.name) == ["default"])
        #expect(created.config.keySlots[0].wrappedKey.kdf == "hkdf-sha256")
        let opened = try await Repository.open(store: store, passphrase: generatedKey(7))
        #expect(opened.key.idHex == created.key.idHex && opened.config == created.config)
        let scrypt = try await Repository.initialize(store: MemoryStore(), passphrase: testPassphrase, parameters: fastKDF)
        #expect(scrypt.config.keySlots[0].wrappedKey.scrypt == fastKDF)
    }

    @Test func changeRewrapsTheConfiguredSlotAndARerunIsDone() async throws {
        let store = MemoryStore()
        let old = generatedKey(8), new = generatedKey(9), recovery = generatedKey(10)
        let created = try await Repository.initialize(store: store, passphrase: old, now: now)
        _ = try await Repository.addKeySlot(named: "recovery", secret: recovery, current: old, store: store, lock: lock(store), now: now)
        let line = try await Repository.changeKey(to: new, current: old, store: store, lock: lock(store), now: now)
        #expect(line.hasPrefix("key slot 'default' now opens with the new key"))
        await _ = expectError(.wrongKey) { _ = try await Repository.open(store: store, passphrase: old) }
        #expect(try await Repository.open(store: store, passphrase: new).slot == "default")
        #expect(try await Repository.open(store: store, passphrase: recovery).key.idHex == created.key.idHex, "other slots are untouched")
        #expect(try await Repository.changeKey(to: new, current: old, store: store, lock: lock(store), now: now).hasPrefix("already changed"))
        // A new key that is another slot's, and a current key that opens nothing.
        await _ = expectError(.invalidInput) { _ = try await Repository.changeKey(to: recovery, current: new, store: store, lock: lock(store), now: now) }
        await _ = expectError(.wrongKey) { _ = try await Repository.changeKey(to: generatedKey(11), current: old, store: store, lock: lock(store), now: now) }
    }

    @Test func removeRefusesTheLastAndTheConfiguredSlot() async throws {
        let store = MemoryStore()
        let main = generatedKey(12), recovery = generatedKey(13)
        _ = try await Repository.initialize(store: store, passphrase: main, now: now)
        let last = await expectError(.invalidInput) {
            _ = try await Repository.removeKeySlot(named: "default", current: main, store: store, lock: lock(store))
        }
        #expect(last?.message.contains("last") == true && last?.hints.first?.contains("tidemark key add") == true)
        _ = try await Repository.addKeySlot(named: "recovery", secret: recovery, current: main, store: store, lock: lock(store), now: now)
        await _ = expectError(.invalidInput) { _ = try await Repository.removeKeySlot(named: "default", current: main, store: store, lock: lock(store)) }
        #expect(try await Repository.removeKeySlot(named: "nonesuch", current: main, store: store, lock: lock(store)) == nil)
        #expect(try await Repository.removeKeySlot(named: "default", current: recovery, store: store, lock: lock(store)) == "removed key slot 'default'")
        await _ = expectError(.wrongKey) { _ = try await Repository.open(store: store, passphrase: main) }
        #expect(try await Repository.keySlotSummaries(store: store, secret: recovery)
            == [KeySlotSummary(name: "recovery", kdf: "hkdf-sha256", created: now.formatted(.iso8601), configuredKey: true)])
    }

    @Test func aKeyCommandWaitsForNoOneWhileTheStanzaIsLocked() async throws {
        let store = MemoryStore()
        let main = generatedKey(14)
        _ = try await Repository.initialize(store: store, passphrase: main, now: now)
        let held = try await lock(store).acquire(command: "backup")
        let before = store.snapshot[RepositoryLayout.configKey]
        await _ = expectError(.busy) { _ = try await Repository.changeKey(to: generatedKey(15), current: main, store: store, lock: lock(store), now: now) }
        await _ = expectError(.busy) {
            _ = try await Repository.addKeySlot(named: "r", secret: generatedKey(15), current: main, store: store, lock: lock(store), now: now)
        }
        #expect(store.snapshot[RepositoryLayout.configKey] == before)
        await held.release()
    }

    @Test func aTamperedOrMalformedVersionTwoConfigIsRefused() async throws {
        let store = MemoryStore()
        let main = generatedKey(16)
        _ = try await Repository.initialize(store: store, passphrase: main, now: now)
        _ = try await Repository.addKeySlot(named: "recovery", secret: generatedKey(17), current: main, store: store, lock: lock(store), now: now)
        let good = try #require(store.snapshot[RepositoryLayout.configKey])
        let text = String(decoding: good, as: UTF8.self)
        for (from, to) in [("\"recovery\"", "\"renamed\""), ("\"recovery\"", "\"default\""), ("\"version\" : 2", "\"version\" : 3")] {
            store.tamper(RepositoryLayout.configKey) { _ in Array(text.replacingOccurrences(of: from, with: to).utf8) }
            let error = await expectError(from == "\"version\" : 2" ? .repository : .corrupt) { _ = try await Repository.open(store: store, passphrase: main) }
            #expect(error != nil, "\(from) → \(to)")
        }
        // Seventeen slots: refused before any key is tried.
        var many = try Repository.decodeConfig(good, store: store)
        many.slots = (0..<17).map { KeySlot(name: "s\($0)", created: "x", wrappedKey: many.keySlots[0].wrappedKey) }
        store.tamper(RepositoryLayout.configKey) { _ in (try? many.encoded()) ?? [] }
        let tooMany = await expectError(.corrupt) { _ = try await Repository.open(store: store, passphrase: main) }
        #expect(tooMany?.message.contains("more than 16 key slots") == true)
        // A slot of a different data key spliced in.
        var config = try Repository.decodeConfig(good, store: store)
        config.slots?[1].wrappedKey = try WrappedKey.wrap(RepositoryKey.generate(), secret: generatedKey(17).bytes)
        store.tamper(RepositoryLayout.configKey) { _ in (try? config.encoded()) ?? [] }
        await _ = expectError(.corrupt) { _ = try await Repository.open(store: store, passphrase: main) }
    }
}
