#if canImport(Glibc)
import Glibc
#endif
import Testing
import TidemarkCore
import TidemarkTesting
@testable import TidemarkFiles

/// Restore refuses what would escape `--to` and never follows a symlink in the target.
@Suite("Files restore safety")
struct FilesRestoreSafetyTests {
    typealias T = FilesTestTree

    /// A snapshot of one configured path whose root tree holds `entries`.
    static func crafted(_ entries: [FilesEntry], store: MemoryChunkStore, path: String = "/srv/uploads") -> FilesSnapshot {
        let root = store.store(FilesTree(entries: entries).encoded())
        let p = Array(path.utf8)
        return FilesSnapshot(id: FilesSnapshot.newID(), time: 1, kind: .full,
                             roots: [.init(path: p, root: FilesEntry(name: p, kind: .directory, mode: 0o40755, subtree: root))])
    }

    static func file(_ name: [UInt8], _ store: MemoryChunkStore, content: String = "x") -> FilesEntry {
        let bytes = Array(content.utf8)
        return FilesEntry(name: name, kind: .file, mode: 0o100644, size: UInt64(bytes.count), chunks: [store.store(bytes)])
    }

    @Test(arguments: [[UInt8](".." .utf8), Array("a/b".utf8), Array(".".utf8), Array("../../escape".utf8), []])
    func unsafeNamesAreRefused(name: [UInt8]) async throws {
        let scratch = try ScratchDirectory(prefix: "files-unsafe")
        let store = MemoryChunkStore()
        let snapshot = Self.crafted([Self.file(name, store)], store: store)
        let to = scratch.child("to")
        let error = await #expect(throws: TidemarkError.self) {
            _ = try await FilesBackupRestoreTests.restore(snapshot, store: store, to: to)
        }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains("refusing") == true)
        // Nothing beside --to.
        #expect(try FilesSystemCalls.names(in: Array(scratch.path.utf8)) == [Array("to".utf8)])
    }

    @Test func aSymlinkInTheTargetIsNeverFollowed() async throws {
        let scratch = try ScratchDirectory(prefix: "files-symlink-target")
        let outside = scratch.child("outside")
        try T.mkdir(Array(outside.utf8))
        let to = scratch.child("to")
        try T.mkdir(Array(to.utf8))
        try T.mkdir(Array((to + "/srv").utf8))
        // Where the snapshot has the directory /srv/uploads, the target has a symlink out.
        try T.symlink(Array(outside.utf8), Array((to + "/srv/uploads").utf8))
        let store = MemoryChunkStore()
        let snapshot = Self.crafted([Self.file(Array("payload".utf8), store)], store: store)
        let error = await #expect(throws: TidemarkError.self) {
            _ = try await FilesBackupRestoreTests.restore(snapshot, store: store, to: to, allowNonEmpty: true)
        }
        #expect(error?.message.contains("symlink") == true)
        #expect(try FilesSystemCalls.names(in: Array(outside.utf8)).isEmpty)

        // Deeper: a directory entry whose name is a symlink the target holds.
        try T.mkdir(Array((to + "/srv/real").utf8))
        try T.symlink(Array(outside.utf8), Array((to + "/srv/real/inner").utf8))
        let sub = store.store(FilesTree(entries: [Self.file(Array("payload".utf8), store)]).encoded())
        let nested = Self.crafted([FilesEntry(name: Array("inner".utf8), kind: .directory, mode: 0o40755, subtree: sub)], store: store, path: "/srv/real")
        await #expect(throws: TidemarkError.self) {
            _ = try await FilesBackupRestoreTests.restore(nested, store: store, to: to, allowNonEmpty: true)
        }
        #expect(try FilesSystemCalls.names(in: Array(outside.utf8)).isEmpty)
    }

    @Test func aNonEmptyTargetIsRefusedUnlessAllowed() async throws {
        let scratch = try ScratchDirectory(prefix: "files-nonempty")
        let to = scratch.child("to")
        try T.mkdir(Array(to.utf8))
        try T.write(Array((to + "/existing").utf8), T.bytes("keep"))
        let store = MemoryChunkStore()
        let snapshot = Self.crafted([Self.file(Array("a".utf8), store)], store: store)
        let error = await #expect(throws: TidemarkError.self) {
            _ = try await FilesBackupRestoreTests.restore(snapshot, store: store, to: to)
        }
        #expect(error?.code == .invalidInput)
        #expect(error?.hints.contains { $0.contains("--allow-non-empty") } == true)
        _ = try await FilesBackupRestoreTests.restore(snapshot, store: store, to: to, allowNonEmpty: true)
        #expect(try T.read(Array((to + "/srv/uploads/a").utf8)) == T.bytes("x"))
        #expect(try T.read(Array((to + "/existing").utf8)) == T.bytes("keep"))
    }

    @Test func dryRunListsAndWritesNothing() async throws {
        let scratch = try ScratchDirectory(prefix: "files-dry")
        let store = MemoryChunkStore()
        let snapshot = Self.crafted([Self.file(Array("a".utf8), store, content: "12345"),
                                     FilesEntry(name: Array("l".utf8), kind: .symlink, symlinkTarget: Array("a".utf8))], store: store)
        let to = scratch.child("to")
        let report = try await FilesBackupRestoreTests.restore(snapshot, store: store, to: to, dryRun: true)
        #expect(report.items.map { FilesPath.display($0.path) } == ["srv/uploads", "srv/uploads/a", "srv/uploads/l"])
        #expect(report.items.map(\.size) == [0, 5, 0])
        #expect(report.bytes == 5)
        #expect(try FilesSystemCalls.names(in: Array(scratch.path.utf8)).isEmpty)
    }

    @Test func aDamagedChunkFailsTheRestoreNamingItAndLeavesNoTemporaryFile() async throws {
        let scratch = try ScratchDirectory(prefix: "files-damaged")
        let store = MemoryChunkStore()
        let entry = Self.file(Array("a".utf8), store, content: "content")
        let snapshot = Self.crafted([entry], store: store)
        store.damage(entry.chunks[0])
        let to = scratch.child("to")
        let error = await #expect(throws: TidemarkError.self) {
            _ = try await FilesBackupRestoreTests.restore(snapshot, store: store, to: to)
        }
        #expect(error?.message.contains(entry.chunks[0].description) == true)
        #expect(error?.hints.contains { $0.contains("it left") } == true)
        #expect(try FilesSystemCalls.names(in: Array((to + "/srv/uploads").utf8)).isEmpty)
    }

    @Test func pathFiltersRestoreOnlyWhatTheyName() async throws {
        let scratch = try ScratchDirectory(prefix: "files-filter")
        let src = scratch.child("src")
        try FilesBackupRestoreTests.makeTree(Array(src.utf8))
        let store = MemoryChunkStore()
        let snapshot = try await FilesBackupRestoreTests.backup([src], store: store)
        let to = scratch.child("to")
        // sub/hardB's first name (hardA) is left out: it is written as a file of its own.
        _ = try await FilesBackupRestoreTests.restore(snapshot, store: store, to: to, paths: [src + "/sub"])
        #expect(try FilesSystemCalls.names(in: Array((to + src).utf8)) == [Array("sub".utf8)])
        #expect(try T.differences(Array((src + "/sub").utf8), Array((to + src + "/sub").utf8)) == [])
        #expect(try T.read(Array((to + src + "/sub/hardB").utf8)) == T.bytes("linked content"))
    }
}
