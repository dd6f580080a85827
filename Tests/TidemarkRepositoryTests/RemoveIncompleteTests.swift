import Foundation
import Testing
import TidemarkCodec
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkSystem
@testable import TidemarkRepository
import TidemarkCore

/// `BackupStore.removeIncomplete` (a backup's clean-up of interrupted runs) against a writer
/// whose lease lapsed and that commits its catalog while the clean-up runs.
@Suite("Removing incomplete backups")
struct RemoveIncompleteTests {
    static let id = "20261104-010000F"
    static let catalogKey = "main/backup/\(id)/catalog"
    static let packKey = "main/backup/\(id)/pack-00000"

    /// A repository holding backup `id` without its catalog, the sealed catalog its writer is
    /// about to commit, and a hook that runs once, right after the clean-up first asks for the
    /// catalog's size (the writer's create-if-absent landing between the listing and the delete).
    struct Racing {
        let memory: MemoryStore
        let backups: BackupStore
        let catalog: [UInt8]

        static func make(commitDuringCleanUp: Bool) async throws -> Racing {
            let memory = MemoryStore()
            let armed = LockedBox(commitDuringCleanUp)
            let box = LockedBox<[UInt8]>([])
            let store = InstrumentedStore(wrapping: memory) { call in
                guard call.operation == .size, call.key == RemoveIncompleteTests.catalogKey, call.outcome == .missing else { return }
                var fire = false
                armed.mutate { a in
                    fire = a
                    a = false
                }
                if fire { memory.place(RemoveIncompleteTests.catalogKey, box.value) }
            }
            let repository = try await Repository.initialize(store: store, passphrase: testPassphrase, parameters: fastKDF)
            let backupID = try #require(BackupID(rawValue: RemoveIncompleteTests.id))
            let catalog = BackupCatalog(
                id: backupID, type: .full, parent: nil, label: "racing", startTime: "2026-11-26T15:30:00Z",
                stopTime: "2026-11-26T15:31:00Z", startLSN: LSN(0x1_0000_0028), stopLSN: LSN(0x1_0200_0000), timeline: 1,
                stopTimeline: 1, postgresVersion: 150_004, systemIdentifier: "7300000000000000001", walSegmentSize: 16 << 20,
                blockSize: 8192, backupLabel: "", tablespaceMap: nil, tablespaces: [], databaseSize: 1000, storedSize: 3,
                durationSeconds: 60, packs: [PackRef(backup: backupID, name: "pack-00000", storedSize: 3)],
                entries: [CatalogEntry(path: "base/1/1259", kind: .file, mode: 0o600, size: 8192)])
            let sealed = encodeEnvelope(Array(try JSONEncoder().encode(catalog)), key: repository.key, kind: .catalog, compression: .zstd).bytes
            box.mutate { $0 = sealed }
            _ = try await store.put(RemoveIncompleteTests.packKey, bytes: [1, 2, 3], ifAbsent: true)
            return Racing(memory: memory, backups: BackupStore(repository: repository, stanza: "main"), catalog: sealed)
        }
    }

    @Test func aCatalogCommittedDuringTheCleanUpKeepsItsBackupWhole() async throws {
        let r = try await Racing.make(commitDuringCleanUp: true)
        let removed = try await r.backups.removeIncomplete()
        #expect(removed.isEmpty, "the backup was committed before the clean-up claimed it: it is complete")
        #expect(r.memory.snapshot[Self.catalogKey] == r.catalog, "the writer's catalog is kept")
        #expect(r.memory.snapshot[Self.packKey] == [1, 2, 3], "and so are its packs")
        #expect(try await r.backups.catalogs().map(\.id.rawValue) == [Self.id])
    }

    @Test func aWriterCommittingAfterTheClaimFailsItsCommit() async throws {
        let r = try await Racing.make(commitDuringCleanUp: false)
        #expect(try await r.backups.removeIncomplete().map(\.rawValue) == [Self.id])
        #expect(r.memory.snapshot.keys.filter { $0.hasPrefix("main/backup/") }.isEmpty, "nothing of the interrupted backup is left")
        // A claim left by a clean-up killed half-way is an incomplete backup, never a catalog.
        _ = try await r.backups.repository.store.put(Self.packKey, bytes: [1, 2, 3], ifAbsent: true)
        _ = try await r.backups.repository.store.put(Self.catalogKey, bytes: [], ifAbsent: true)
        #expect(try await r.backups.catalogs().isEmpty, "an empty catalog is a claim: no backup is listed")
        #expect(try await r.backups.backupDirectories().map(\.complete) == [false])
        let outcome = try await r.backups.repository.store.put(Self.catalogKey, bytes: r.catalog, ifAbsent: true)
        #expect(outcome == .alreadyExists, "a late writer's commit meets the claim and fails")
        #expect(try await r.backups.removeIncomplete().map(\.rawValue) == [Self.id], "the next clean-up finishes it")
        #expect(r.memory.snapshot.keys.filter { $0.hasPrefix("main/backup/") }.isEmpty)
    }
}
