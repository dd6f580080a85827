import Foundation
import Testing
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkSystem
@testable import TidemarkRepository
@testable import TidemarkBackup

@Suite("Backups into several repositories")
struct MultiRepositoryBackupTests {
    let server = ServerFacts(systemIdentifier: "7300000000000000001", postgresVersion: 150018, walSegmentSize: 16 << 20, blockSize: 8192)
    let cluster = FakeCluster(files: ["base/1/1000": randomBytes(8192 * 40, seed: 7), "global/pg_control": randomBytes(8192, seed: 8)])

    func target(_ name: String, required: Bool) async throws -> (BackupTarget, MemoryStore) {
        let store = MemoryStore(location: "memory:" + name)
        let repo = try await Repository.initialize(store: store, passphrase: testPassphrase, parameters: fastKDF)
        return (BackupTarget(name: name, required: required, store: BackupStore(repository: repo, stanza: "main")), store)
    }

    @Test func everyRepositoryGetsTheBackupUnderOneID() async throws {
        let (a, _) = try await target("a", required: true)
        let (b, _) = try await target("b", required: true)
        var source = cluster.stream()
        let results = try await BackupFanOut(targets: [a, b]).take(
            type: .full, label: "x", server: server, source: &source, compression: .lz4, compressionLevel: nil, progress: nil, beforeCommit: nil)
        #expect(results.map(\.repository) == ["a", "b"])
        let idA = try #require(try await a.store.catalogs().first?.id)
        #expect(try await b.store.catalogs().map(\.id) == [idA])
        // Incremental: each repository against its own parent.
        try await Task.sleep(for: .seconds(1.1))
        var again = cluster.stream()
        let incremental = try await BackupFanOut(targets: [a, b]).take(
            type: .incremental, label: "y", server: server, source: &again, compression: .lz4, compressionLevel: nil, progress: nil, beforeCommit: nil)
        #expect(incremental.map(\.catalog.parent) == [idA, idA])
        #expect(incremental.allSatisfy { $0.newBlocks == 0 }, "nothing changed, nothing new: \(incremental.map(\.newBlocks))")
    }

    @Test func anOptionalRepositoryFailingMidBackupIsDroppedWithAnAlert() async throws {
        let (a, _) = try await target("a", required: true)
        let (b, storeB) = try await target("b", required: false)
        storeB.failWrites(with: StorageError(.noSpace, key: "x", message: "No space left on device"))
        var source = cluster.stream()
        let run = BackupFanOut(targets: [a, b])
        let results = try await run.take(type: .full, label: "x", server: server, source: &source, compression: .lz4,
                                         compressionLevel: nil, progress: nil, beforeCommit: nil)
        #expect(results.map(\.repository) == ["a"])
        #expect(run.alerts.count == 1 && run.alerts[0].contains("'b'"), "\(run.alerts)")
        #expect(try await a.store.catalogs().count == 1)
        storeB.failWrites(with: nil)
        #expect(try await b.store.catalogs().isEmpty)
        #expect(!storeB.snapshot.keys.contains { $0.contains("/backup") }, "nothing of the backup left in b: \(storeB.snapshot.keys.sorted())")
    }

    @Test func aRequiredRepositoryFailingFailsTheBackupEverywhere() async throws {
        let (a, storeA) = try await target("a", required: true)
        let (b, _) = try await target("b", required: true)
        var source = cluster.stream()
        let check: @Sendable (BackupTarget, BackupCatalog) async throws -> Void = { target, _ in
            if target.name == "b" { throw TidemarkError(.io, "the WAL did not arrive in 'b'") }
        }
        await _ = expectError(.io) {
            _ = try await BackupFanOut(targets: [a, b]).take(type: .full, label: "x", server: self.server, source: &source,
                                                             compression: .lz4, compressionLevel: nil, progress: nil, beforeCommit: check)
        }
        #expect(try await a.store.catalogs().isEmpty)
        #expect(try await b.store.catalogs().isEmpty)
        #expect(try await a.store.backupDirectories().isEmpty, "nothing incomplete left")
        #expect(try await b.store.backupDirectories().isEmpty, "nothing incomplete left")
        let leases = storeA.snapshot.filter { $0.key.hasPrefix(RepositoryLayout.lockPrefix("main")) }
        #expect(leases.count == 1 && leases.values.allSatisfy { LeaseRecord.decode($0)?.released == true }, "the lock is released")
        #expect(try await RepositoryLock(store: storeA, stanza: "main").holder() == nil, "the lock is released")
    }
}
