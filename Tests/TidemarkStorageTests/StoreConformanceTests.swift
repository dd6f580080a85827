import Foundation
import Testing
import TidemarkStorage
import TidemarkTesting
import TidemarkSystem

/// One suite, every store: the contract in ObjectStore's documentation.
@Suite("ObjectStore conformance")
struct StoreConformanceTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        /// `instrumented`: an InstrumentedStore around a file-system store.
        case memory, fileSystem, instrumented
        var testDescription: String { rawValue }
    }

    static func make(_ kind: Kind) throws -> (any ObjectStore, String?) {
        switch kind {
        case .memory:
            return (MemoryStore(), nil)
        case .fileSystem:
            let dir = TestTemporaryRoot.path + "/tm-store-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            return (FileSystemStore(root: dir, timeout: 10), dir)
        case .instrumented:
            let (base, dir) = try make(.fileSystem)
            return (InstrumentedStore(wrapping: base) { _ in }, dir)
        }
    }

    /// The shared contract (TidemarkTesting's StoreConformance), every check on every store.
    @Test(arguments: Kind.allCases, StoreConformance.all())
    func conformance(_ kind: Kind, _ check: StoreConformance.Check) async throws {
        let (store, dir) = try Self.make(kind)
        defer { dir.map { try? FileManager.default.removeItem(atPath: $0) } }
        try await check.run(store)
    }

    @Test func abortedFileSystemWritesLeaveNoTemporaryFile() async throws {
        let (store, dir) = try Self.make(.fileSystem)
        defer { dir.map { try? FileManager.default.removeItem(atPath: $0) } }
        _ = try await store.put("d/big", bytes: [1], ifAbsent: true)
        let aborted = try await store.makeWriter("d/gone")
        try await aborted.write([9, 9])
        await aborted.abort()
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: try #require(dir) + "/d")
        #expect(leftovers == ["big"], "no temporary file may survive an abort")
    }

    @Test(arguments: ["", "/abs", "a//b", "../x", "a/../b", "a/./b", "a/.tmp.x", "a b", "a/b\u{0}"])
    func unsafeKeysAreRejected(_ key: String) async throws {
        let store = MemoryStore()
        await #expect(throws: StorageError.self) { _ = try await store.put(key, bytes: [1], ifAbsent: false) }
        let fsDir = TestTemporaryRoot.path + "/tm-keys-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: fsDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: fsDir) }
        let fs = FileSystemStore(root: fsDir)
        await #expect(throws: StorageError.self) { _ = try await fs.put(key, bytes: [1], ifAbsent: false) }
    }
}

@Suite("File-system store")
struct FileSystemStoreTests {
    @Test func filesAre0600AndDirectories0700() async throws {
        let dir = TestTemporaryRoot.path + "/tm-perm-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = FileSystemStore(root: dir)
        _ = try await store.put("a/b/c", bytes: [1], ifAbsent: true)
        let fileMode = try #require(FileManager.default.attributesOfItem(atPath: dir + "/a/b/c")[.posixPermissions] as? Int)
        let dirMode = try #require(FileManager.default.attributesOfItem(atPath: dir + "/a/b")[.posixPermissions] as? Int)
        #expect(fileMode == 0o600)
        #expect(dirMode == 0o700)
    }

    @Test func staleTemporaryFilesOfDeadWritersAreRemoved() async throws {
        let dir = TestTemporaryRoot.path + "/tm-stale-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/w", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // pid 2^22+1 is above Linux's pid_max default, so no such process exists.
        let stale = dir + "/w/.tmp.seg.4194305.abc"
        #expect(FileManager.default.createFile(atPath: stale, contents: Data([1, 2])))
        let store = FileSystemStore(root: dir)
        _ = try await store.put("w/seg", bytes: [7], ifAbsent: true)
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(try await store.get("w/seg") == [7])
    }

    @Test func deleteManyRemovesEmptiedDirectoriesButNotTheTopTwoLevelsOrBusyOnes() async throws {
        let dir = TestTemporaryRoot.path + "/tm-dm-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = FileSystemStore(root: dir)
        let keys = (0..<3000).map { "st/wal/\(String(format: "%016X", $0 / 1000))/seg\($0)" } + ["st/backup/B1/pack", "st/backup/B1/cat/x", "solo/k"]
        for k in keys { _ = try await store.put(k, bytes: [1], ifAbsent: true) }
        _ = try await store.put("st/wal/0000000000000002/kept", bytes: [2], ifAbsent: true)
        // A writer's temporary file keeps its directory.
        let busy = dir + "/st/wal/0000000000000001/.tmp.seg.1.abc"
        #expect(FileManager.default.createFile(atPath: busy, contents: Data([1])))
        try await store.deleteMany(keys)
        let fm = FileManager.default
        #expect(!fm.fileExists(atPath: dir + "/st/wal/0000000000000000"), "an emptied WAL directory goes")
        #expect(!fm.fileExists(atPath: dir + "/st/backup/B1"), "an emptied backup directory and its emptied sub-directory go")
        #expect(fm.fileExists(atPath: busy), "a directory holding a temporary file stays")
        #expect(try await store.get("st/wal/0000000000000002/kept") == [2])
        #expect(fm.fileExists(atPath: dir + "/st/wal") && fm.fileExists(atPath: dir + "/st/backup"), "the stanza's areas stay")
        #expect(fm.fileExists(atPath: dir + "/solo") && fm.fileExists(atPath: dir), "first-level directories and the root stay")
        #expect(try await store.list(prefix: "st/wal/").prefixes == ["st/wal/0000000000000001/", "st/wal/0000000000000002/"])
    }

    @Test func aHungFileSystemCallTimesOut() async throws {
        let dir = TestTemporaryRoot.path + "/tm-hang-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Opening a FIFO for reading blocks until a writer appears: a stand-in for a dead mount.
        #expect(mkfifo(dir + "/stuck", 0o600) == 0)
        let store = FileSystemStore(root: dir, timeout: 0.5)
        let start = ContinuousClock.now
        do {
            _ = try await store.get("stuck")
            Issue.record("expected a timeout")
        } catch let error as StorageError {
            #expect(error.code == .timeout)
        }
        #expect(ContinuousClock.now - start < .seconds(5))
        // Release the blocked open so the abandoned thread finishes.
        let fd = open(dir + "/stuck", O_WRONLY | O_NONBLOCK)
        if fd >= 0 { close(fd) }
    }
}
