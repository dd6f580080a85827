import Foundation
import Synchronization
import Testing
import TidemarkCodec
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkSystem
@testable import TidemarkRepository
import TidemarkCore

/// The catalog index (`<stanza>/catalog.index`) behind `summaries()` and `list`, and deletion
/// markers hiding backups everywhere.
@Suite("Catalog index and deletion markers")
struct CatalogIndexTests {
    /// Every call the store saw, to count reads.
    final class Calls: Sendable {
        let all = Mutex<[StoreCall]>([])
        func record(_ call: StoreCall) { all.withLock { $0.append(call) } }
        func clear() { all.withLock { $0 = [] } }
        var catalogReads: Int { all.withLock { $0.filter { $0.operation == .get && $0.key.hasSuffix("/catalog") }.count } }
        var indexWrites: Int { all.withLock { $0.filter { $0.operation == .put && $0.key.hasSuffix("catalog.index") }.count } }
    }

    struct Fixture {
        let memory: MemoryStore
        let calls: Calls
        let repository: Repository
        func backups(_ stanza: String = "main") -> BackupStore { BackupStore(repository: repository, stanza: stanza) }

        static func make() async throws -> Fixture {
            let memory = MemoryStore()
            let calls = Calls()
            let store = InstrumentedStore(wrapping: memory) { calls.record($0) }
            let repository = try await Repository.initialize(store: store, passphrase: testPassphrase, parameters: fastKDF)
            return Fixture(memory: memory, calls: calls, repository: repository)
        }

        /// A complete backup: two objects, then its catalog (as a backup writes them).
        @discardableResult
        func addBackup(_ id: String, stanza: String = "main", label: String? = nil, parent: String? = nil) async throws -> BackupCatalog {
            let backupID = try #require(BackupID(rawValue: id))
            let catalog = BackupCatalog(
                id: backupID, type: backupID.type, parent: parent.flatMap { BackupID(rawValue: $0) }, label: label ?? "label \(id)",
                startTime: "2026-11-26T15:30:00Z", stopTime: "2026-11-26T15:31:00Z", startLSN: LSN(0x1_0000_0028),
                stopLSN: LSN(0x1_0200_0000), timeline: 1, stopTimeline: 1, postgresVersion: 150_004,
                systemIdentifier: "7300000000000000001", walSegmentSize: 16 << 20, blockSize: 8192, backupLabel: "",
                tablespaceMap: nil, tablespaces: [], databaseSize: 1000, storedSize: 500, durationSeconds: 60,
                packs: [PackRef(backup: backupID, name: "pack-00000", storedSize: 3)],
                entries: [CatalogEntry(path: "base/1/1259", kind: .file, mode: 0o600, size: 8192)])
            let store = repository.store
            _ = try await store.put(RepositoryLayout.backupObject(stanza, backupID, "pack-00000"), bytes: [1, 2, 3], ifAbsent: true)
            _ = try await store.put(RepositoryLayout.backupObject(stanza, backupID, "blockmap"), bytes: [4], ifAbsent: true)
            let json = Array(try JSONEncoder().encode(catalog))
            let sealed = encodeEnvelope(json, key: repository.key, kind: .catalog, compression: .zstd).bytes
            _ = try await store.put(RepositoryLayout.backupObject(stanza, backupID, "catalog"), bytes: sealed, ifAbsent: true)
            return catalog
        }

        func mark(_ id: String, stanza: String = "main") async throws {
            let backupID = try #require(BackupID(rawValue: id))
            _ = try await repository.store.put(RepositoryLayout.deletionMarker(stanza, backupID), bytes: [1], ifAbsent: true)
        }
    }

    static let ids = ["20261101-010000F", "20261102-010000I", "20261103-010000I"]

    @Test func theIndexIsBuiltOnTheFirstReadAndReusedAfterwards() async throws {
        let f = try await Fixture.make()
        var catalogs: [BackupCatalog] = []
        for id in Self.ids.reversed() { catalogs.append(try await f.addBackup(id)) }
        f.calls.clear()
        let first = try await f.backups().summaries()
        #expect(first.map(\.unsalted) == catalogs.reversed().map(CatalogSummary.init), "every backup, oldest first, as its catalog says")
        #expect(first.allSatisfy { ($0.catalogSalt?.count ?? 0) == 64 }, "each summary records its catalog object's salt (32 bytes, hex)")
        #expect(f.calls.catalogReads == 3)
        #expect(f.calls.indexWrites == 1)
        #expect(f.memory.snapshot[RepositoryLayout.catalogIndex("main")] != nil)
        f.calls.clear()
        let second = try await f.backups().summaries()
        #expect(second == first)
        #expect(f.calls.catalogReads == 0, "a current index needs no catalog")
        #expect(f.calls.indexWrites == 0, "a current index is not rewritten")
    }

    @Test func aStanzaWithoutBackupsGetsNoIndex() async throws {
        let f = try await Fixture.make()
        #expect(try await f.backups("typo").summaries().isEmpty)
        #expect(f.memory.snapshot.keys.allSatisfy { !$0.hasPrefix("typo/") }, "listing a stanza that does not exist creates nothing")
    }

    @Test func aNewBackupAppearsAndARemovedDirectoryDisappears() async throws {
        let f = try await Fixture.make()
        for id in Self.ids { try await f.addBackup(id) }
        _ = try await f.backups().summaries()
        let added = try await f.addBackup("20261104-010000I")
        // An unfinished backup (no catalog) is not a backup.
        _ = try await f.repository.store.put("main/backup/20261105-010000I/pack-00000", bytes: [1], ifAbsent: true)
        f.calls.clear()
        let withNew = try await f.backups().summaries()
        #expect(withNew.map(\.id.rawValue) == Self.ids + ["20261104-010000I"])
        #expect(withNew.last?.unsalted == CatalogSummary(added))
        #expect(f.calls.catalogReads == 2, "only the catalogs the index lacks are read (the new one, and the missing one of the unfinished one)")
        #expect(f.calls.indexWrites == 1)

        try await f.repository.store.removeAll(prefix: "main/backup/20261102-010000I/")
        let afterRemoval = try await f.backups().summaries()
        #expect(afterRemoval.map(\.id.rawValue) == ["20261101-010000F", "20261103-010000I", "20261104-010000I"])
        f.calls.clear()
        #expect(try await f.backups().readIndex().map { Set($0.keys.map(\.rawValue)) } == Set(afterRemoval.map(\.id.rawValue)),
                "the index was rewritten without the removed backup")
    }

    @Test func aMarkedBackupIsHiddenFromSummariesCatalogsAndCompleteDirectories() async throws {
        let f = try await Fixture.make()
        for id in Self.ids { try await f.addBackup(id) }
        _ = try await f.backups().summaries()  // indexed before it is marked
        try await f.mark("20261102-010000I")
        let visible = ["20261101-010000F", "20261103-010000I"]
        #expect(try await f.backups().summaries().map(\.id.rawValue) == visible)
        #expect(try await f.backups().summaries().map(\.id.rawValue) == visible, "also when read through the rewritten index")
        #expect(try await f.backups().catalogs().map(\.id.rawValue) == visible)
        let directories = try await f.backups().backupDirectories()
        #expect(directories.map(\.0.rawValue) == Self.ids, "the marked directory still exists, so no new backup takes its id")
        #expect(directories.map(\.complete) == [true, false, true])

        // A backup's clean-up removes what never finished, never what is being deleted.
        _ = try await f.repository.store.put("main/backup/20261104-010000I/pack-00000", bytes: [1], ifAbsent: true)
        #expect(try await f.backups().removeIncomplete().map(\.rawValue) == ["20261104-010000I"])
        #expect(f.memory.snapshot["main/backup/20261102-010000I/pack-00000"] != nil, "the deleter finishes a marked backup")
        #expect(f.memory.snapshot["main/backup/20261104-010000I/pack-00000"] == nil)
    }

    @Test func aTamperedIndexIsRebuiltNeverTrusted() async throws {
        let f = try await Fixture.make()
        for id in Self.ids { try await f.addBackup(id) }
        let truth = try await f.backups().summaries()
        let key = RepositoryLayout.catalogIndex("main")
        // In the header's tail, the middle and the last byte of the index as it is now: a
        // rebuilt index may differ in size by a few bytes (JSONEncoder's key order varies, and
        // zstd with it).
        for place in ["header", "middle", "last"] {
            let current = try #require(f.memory.snapshot[key])
            let offset = place == "header" ? EnvelopeHeader.size + 3 : place == "middle" ? current.count / 2 : current.count - 1
            f.memory.tamper(key) { bytes in
                var b = bytes
                b[offset] ^= 0x01
                return b
            }
            f.calls.clear()
            #expect(try await f.backups().summaries() == truth, "flipped byte at \(offset)")
            #expect(f.calls.catalogReads == 3, "every catalog is read again (byte \(offset))")
            #expect(f.memory.snapshot[key] != nil && (try? EnvelopeReader.decode(try #require(f.memory.snapshot[key]), key: f.repository.key)) != nil,
                    "a good index replaces the tampered one (byte \(offset))")
        }
    }

    @Test func anIndexCopiedFromAnotherStanzaIsRebuilt() async throws {
        let f = try await Fixture.make()
        // Same ids in both stanzas, different catalogs: a copied index would pass as current.
        for id in Self.ids {
            try await f.addBackup(id, stanza: "one", label: "one")
            try await f.addBackup(id, stanza: "two", label: "two")
        }
        _ = try await f.backups("one").summaries()
        let copied = try #require(f.memory.snapshot[RepositoryLayout.catalogIndex("one")])
        _ = try await f.repository.store.put(RepositoryLayout.catalogIndex("two"), bytes: copied, ifAbsent: false)
        let two = try await f.backups("two").summaries()
        #expect(two.map(\.label) == ["two", "two", "two"], "stanza two's own catalogs, not stanza one's index")
        #expect(try await f.backups("two").readIndex()?.values.map(\.label) == ["two", "two", "two"])
    }

    @Test func aReadOnlyStoreStillListsAndDryRunsWriteNothing() async throws {
        let f = try await Fixture.make()
        for id in Self.ids { try await f.addBackup(id) }
        let before = f.memory.snapshot
        #expect(try await f.backups().summaries(writingIndex: false).map(\.id.rawValue) == Self.ids)
        #expect(f.memory.snapshot == before, "writingIndex: false leaves the repository byte-identical")
        f.memory.failWrites(with: StorageError(.readOnly, key: "main/catalog.index", message: "read-only credentials"))
        #expect(try await f.backups().summaries().map(\.id.rawValue) == Self.ids)
        #expect(f.memory.snapshot[RepositoryLayout.catalogIndex("main")] == nil)
    }

    @Test func readErrorsAreNotSwallowed() async throws {
        let f = try await Fixture.make()
        for id in Self.ids { try await f.addBackup(id) }
        // A catalog that fails to authenticate is an error, as in catalogs(), not a missing backup.
        f.memory.tamper("main/backup/20261102-010000I/catalog") { bytes in
            var b = bytes
            b[b.count - 1] ^= 0x01
            return b
        }
        await _ = expectError(.corrupt) { _ = try await f.backups().summaries() }
    }

    /// The index must not hide a catalog replaced by another backup's (they authenticate under
    /// the same key): each read compares the catalog objects' salts with the index, and reads
    /// (and refuses) one that changed.
    @Test func aCatalogReplacedAfterIndexingIsCaught() async throws {
        let f = try await Fixture.make()
        _ = try await f.addBackup(Self.ids[0])
        _ = try await f.addBackup(Self.ids[1])
        _ = try await f.backups().summaries()
        let a = f.memory.snapshot["main/backup/\(Self.ids[0])/catalog"]
        try await f.memory.delete("main/backup/\(Self.ids[1])/catalog")
        _ = try await f.memory.put("main/backup/\(Self.ids[1])/catalog", bytes: try #require(a), ifAbsent: false)
        let e = await expectError(.corrupt) { _ = try await f.backups().summaries() }
        #expect(e?.message.contains("copied") == true, "\(String(describing: e))")
    }
}

extension CatalogSummary {
    /// The summary as its catalog alone gives it (the index adds the object's salt).
    var unsalted: CatalogSummary {
        var s = self
        s.catalogSalt = nil
        return s
    }
}
