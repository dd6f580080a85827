import Foundation
import Testing
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkSystem
@testable import TidemarkRepository
@testable import TidemarkBackup

/// A scripted base-backup stream.
struct ScriptedSource: BackupInputSource {
    var events: [BackupInput]
    var index = 0
    mutating func next() async throws -> BackupInput? {
        guard index < events.count else { return nil }
        defer { index += 1 }
        return events[index]
    }
}

struct FakeCluster {
    var files: [String: [UInt8]]
    var tablespaceFiles: [String: [UInt8]] = [:]

    func stream(label: String = "test") -> ScriptedSource {
        var e: [BackupInput] = [.started(startLSN: LSN(0x3000028), timeline: TimelineID(1)),
                                .tablespaces([CatalogTablespace(oid: 16400, location: "/old/ts")])]
        e.append(.archive(tablespace: 16400))
        e.append(.directory(path: "PG_15_202209061", mode: 0o700))
        e.append(.directory(path: "PG_15_202209061/5", mode: 0o700))
        for (path, bytes) in tablespaceFiles.sorted(by: { $0.key < $1.key }) {
            e.append(.fileStarted(path: path, size: Int64(bytes.count), mode: 0o600, modified: 1))
            e.append(.fileData(bytes))
            e.append(.fileEnded)
        }
        e.append(.archive(tablespace: nil))
        let labelText = "START WAL LOCATION: 0/3000028 (file 000000010000000000000003)\nLABEL: \(label)\n"
        e.append(.fileStarted(path: "backup_label", size: Int64(labelText.utf8.count), mode: 0o600, modified: 1))
        e.append(.fileData(Array(labelText.utf8)))
        e.append(.fileEnded)
        e.append(.directory(path: "base", mode: 0o700))
        e.append(.directory(path: "base/1", mode: 0o700))
        e.append(.directory(path: "pg_tblspc", mode: 0o700))
        e.append(.directory(path: "global", mode: 0o700))
        e.append(.symlink(path: "pg_tblspc/16400", target: "/old/ts"))
        for (path, bytes) in files.sorted(by: { $0.key < $1.key }) {
            e.append(.fileStarted(path: path, size: Int64(bytes.count), mode: 0o600, modified: 1))
            // Deliver in uneven pieces, as the network does.
            var i = 0
            var step = 1000
            while i < bytes.count {
                let n = min(step, bytes.count - i)
                e.append(.fileData(Array(bytes[i..<i + n])))
                i += n
                step = step * 3 % 70_001 + 1
            }
            e.append(.fileEnded)
        }
        e.append(.manifest(Array("{\"PostgreSQL-Backup-Manifest-Version\": 1}".utf8)))
        e.append(.finished(stopLSN: LSN(0x3000100), timeline: TimelineID(1)))
        return ScriptedSource(events: e)
    }
}

func randomBytes(_ n: Int, seed: UInt64) -> [UInt8] {
    var x = seed &+ 0x9E37_79B9_7F4A_7C15
    return (0..<n).map { _ in
        x ^= x << 13; x ^= x >> 7; x ^= x << 17
        return UInt8(truncatingIfNeeded: x)
    }
}

@Suite("Backup and restore engine")
struct BackupRestoreTests {
    let server = ServerFacts(systemIdentifier: "7300000000000000001", postgresVersion: 150018, walSegmentSize: 16 << 20, blockSize: 8192)

    func backups() async throws -> BackupStore {
        let repo = try await Repository.initialize(store: MemoryStore(), passphrase: testPassphrase, parameters: fastKDF)
        return BackupStore(repository: repo, stanza: "main")
    }

    @Test func fullThenIncrementalStoresOnlyChangedBlocksAndBothRestoreExactly() async throws {
        let store = try await backups()
        var cluster = FakeCluster(files: [
            "base/1/1000": randomBytes(8192 * 300, seed: 1),
            "base/1/1001": randomBytes(8192 * 3 + 100, seed: 2),
            "base/1/empty": [],
            "base/1/zeros": [UInt8](repeating: 0, count: 8192 * 10),
            "global/pg_control": randomBytes(8192, seed: 3),
        ], tablespaceFiles: ["PG_15_202209061/5/16401": randomBytes(8192 * 20, seed: 4)])
        var source = cluster.stream()
        let full = try await store.takeBackup(type: .full, label: "nightly", server: server, source: &source, compression: .lz4, compressionLevel: nil)
        #expect(full.catalog.type == .full && full.catalog.parent == nil)
        #expect(full.catalog.label == "nightly")
        let fullCluster = cluster

        // Change 5 random blocks of the big table, one byte in the small file, add a file.
        var big = cluster.files["base/1/1000"]!
        for block in [3, 77, 150, 151, 299] { big[block * 8192 + 100] ^= 0xFF }
        cluster.files["base/1/1000"] = big
        cluster.files["base/1/1001"]![8192 * 3 + 50] ^= 1
        cluster.files["base/1/2000"] = randomBytes(8192 * 2, seed: 9)
        try await Task.sleep(for: .seconds(1.1))  // ids have one-second resolution
        var source2 = cluster.stream()
        let incr = try await store.takeBackup(type: .incremental, label: "hourly", server: server, source: &source2, compression: .lz4, compressionLevel: nil)
        #expect(incr.catalog.type == .incremental)
        #expect(incr.catalog.parent == full.catalog.id)
        #expect(incr.newBlocks == 5 + 1 + 2, "only changed blocks are stored (got \(incr.newBlocks))")
        #expect(incr.catalog.storedSize < full.catalog.storedSize / 10)

        for (catalog, expected) in [(full.catalog, fullCluster), (incr.catalog, cluster)] {
            let target = try Scratch()
            let ts = try Scratch()
            var options = RestoreOptions(directory: target.path + "/data", restoreCommand: "tidemark wal-fetch \"%f\" \"%p\"")
            options.tablespaceMap = ["/old/ts": ts.path + "/ts"]
            _ = try await store.restore(catalog, options: options)
            for (path, bytes) in expected.files {
                #expect(Array(try Data(contentsOf: URL(fileURLWithPath: target.path + "/data/" + path))) == bytes, "\(catalog.id) \(path)")
            }
            for (path, bytes) in expected.tablespaceFiles {
                #expect(Array(try Data(contentsOf: URL(fileURLWithPath: ts.path + "/ts/" + path))) == bytes)
            }
            let link = try FileManager.default.destinationOfSymbolicLink(atPath: target.path + "/data/pg_tblspc/16400")
            #expect(link == ts.path + "/ts")
            let mode = try #require(FileManager.default.attributesOfItem(atPath: target.path + "/data")[.posixPermissions] as? Int)
            #expect(mode == 0o700)
            let auto = try String(contentsOfFile: target.path + "/data/postgresql.auto.conf", encoding: .utf8)
            #expect(auto.contains("restore_command = 'tidemark wal-fetch \"%f\" \"%p\"'"))
            #expect(FileManager.default.fileExists(atPath: target.path + "/data/recovery.signal"))
            #expect(FileManager.default.fileExists(atPath: target.path + "/data/backup_manifest"))
        }
    }

    @Test func anInterruptedBackupNeverLooksCompleteAndIsCleanedUp() async throws {
        let store = try await backups()
        let cluster = FakeCluster(files: ["base/1/1000": randomBytes(8192 * 50, seed: 1)])
        var source = cluster.stream()
        source.events = Array(source.events.dropLast(3))  // the stream breaks off
        await _ = expectError(.io) {
            _ = try await store.takeBackup(type: .full, label: "x", server: self.server, source: &source, compression: .lz4, compressionLevel: nil)
        }
        #expect(try await store.catalogs().isEmpty)
        // A run killed after it stored a pack leaves a directory without a catalog.
        let leftover = RepositoryLayout.backupObject("main", try #require(BackupID(rawValue: "20200101-000000F")), "pack-00001")
        _ = try await store.repository.store.put(leftover, bytes: [1, 2, 3], ifAbsent: true)
        #expect(try await store.catalogs().isEmpty, "a backup without a catalog is not listed")
        var good = cluster.stream()
        try await Task.sleep(for: .seconds(1.1))
        let result = try await store.takeBackup(type: .full, label: "y", server: server, source: &good, compression: .lz4, compressionLevel: nil)
        #expect(result.notices.joined().contains("removed incomplete backup(s) left by an interrupted run: 20200101-000000F"))
        #expect(try await store.repository.store.get(leftover) == nil)
        #expect(try await store.backupDirectories().map(\.1) == [true])
    }

    @Test func catalogPathsThatEscapeTheTargetAreRefused() async throws {
        let store = try await backups()
        var source = FakeCluster(files: ["base/1/1000": randomBytes(8192, seed: 1)]).stream()
        let result = try await store.takeBackup(type: .full, label: "x", server: server, source: &source, compression: .lz4, compressionLevel: nil)
        for evil in ["../escape", "base/../../escape", "/etc/passwd", "base//x"] {
            var catalog = result.catalog
            let i = try #require(catalog.entries.firstIndex { $0.path == "base/1/1000" })
            catalog.entries[i].path = evil
            let target = try Scratch()
            let error = await expectError(.corrupt) {
                _ = try await store.restore(catalog, options: RestoreOptions(directory: target.path + "/data", restoreCommand: "x"))
            }
            #expect(error?.message.contains("leave the restore target") == true)
            #expect(!FileManager.default.fileExists(atPath: target.path + "/escape"))
            #expect(!FileManager.default.fileExists(atPath: target.path + "/data"), "nothing written before the check")
        }
        // A symlink other than a tablespace link is refused too.
        var catalog = result.catalog
        catalog.entries.append(CatalogEntry(path: "base/evil", kind: .symlink, mode: 0o777, target: "/etc"))
        let target = try Scratch()
        await _ = expectError(.corrupt) {
            _ = try await store.restore(catalog, options: RestoreOptions(directory: target.path + "/data", restoreCommand: "x"))
        }
    }

    @Test func aNonEmptyTargetIsRefusedUnlessForced() async throws {
        let store = try await backups()
        var source = FakeCluster(files: ["base/1/1000": randomBytes(8192, seed: 1)]).stream()
        let result = try await store.takeBackup(type: .full, label: "x", server: server, source: &source, compression: .lz4, compressionLevel: nil)
        let target = try Scratch()
        let ts = try Scratch()
        _ = try target.write("precious", [1])
        var plain = RestoreOptions(directory: target.path, restoreCommand: "x")
        plain.tablespaceMap = ["/old/ts": ts.path + "/ts"]
        await _ = expectError(.invalidInput) { _ = try await store.restore(result.catalog, options: plain) }
        #expect(try target.read("precious") == [1])
        var forced = plain
        forced.force = true
        _ = try await store.restore(result.catalog, options: forced)
        #expect(!target.exists("precious"))
        #expect(target.exists("base/1/1000"))
    }

    @Test func aBlockWrittenToTheWrongPlaceIsCaughtByTheBlockCheck() async throws {
        let store = try await backups()
        var source = FakeCluster(files: ["base/1/1000": randomBytes(8192 * 8, seed: 5)]).stream()
        let result = try await store.takeBackup(type: .full, label: "x", server: server, source: &source, compression: .lz4, compressionLevel: nil)
        var catalog = result.catalog
        let i = try #require(catalog.entries.firstIndex { $0.path == "base/1/1000" })
        // Point the file's first extent one block further into the pack: authentic bytes, wrong place.
        var extents = try #require(catalog.entries[i].extents)
        extents[0].offset += 8192
        extents[0].count -= 1
        catalog.entries[i].extents = extents
        let target = try Scratch()
        var bad = RestoreOptions(directory: target.path + "/data", restoreCommand: "x")
        bad.tablespaceMap = ["/old/ts": target.path + "/ts1"]
        let error = await expectError(.corrupt) { _ = try await store.restore(catalog, options: bad) }
        #expect(error?.message.contains("block map") == true, "\(String(describing: error))")
        // With the catalog as written, the same restore passes the block check and the SHA-256 check.
        var options = RestoreOptions(directory: target.path + "/ok", restoreCommand: "x")
        options.tablespaceMap = ["/old/ts": target.path + "/ts2"]
        options.verifyFileChecksums = true
        _ = try await store.restore(result.catalog, options: options)
    }

    @Test func restoreCommandQuotingSurvivesSpacesAndQuotes() {
        let word = RecoveryConfig.shellWord("/var/lib/my repo/it's")
        #expect(word == "'/var/lib/my repo/it'\\''s'")
        #expect(RecoveryConfig.quote("a 'b'") == "'a ''b'''")
        #expect(RecoveryConfig.shellWord("/usr/bin/tidemark") == "/usr/bin/tidemark")
    }
}
