import Testing
import TidemarkCodec
import TidemarkCore
import TidemarkTesting
@testable import TidemarkFiles

@Suite("Files tree and snapshot formats")
struct FilesFormatTests {
    static func id(_ b: UInt8) -> ChunkID { ChunkID(bytes: [UInt8](repeating: b, count: 32)) }

    static let entries: [FilesEntry] = [
        FilesEntry(name: Array("z-file".utf8), kind: .file, mode: 0o100644, uid: 1000, gid: 1000, mtime: 1_700_000_000_123_456_789,
                   ctime: 1_700_000_001_000_000_000, size: 10, inode: 77, device: 2049, chunks: [id(1), id(2)]),
        FilesEntry(name: [0x0a, 0xff, 0xc3], kind: .symlink, mode: 0o120777, mtime: -5, symlinkTarget: [0x2e, 0x2e, 0x0a, 0xfe]),
        FilesEntry(name: Array("dir".utf8), kind: .directory, mode: 0o40700, subtree: id(3)),
        FilesEntry(name: Array("hard".utf8), kind: .hardLink, mode: 0o100600, size: 10, chunks: [id(1), id(2)],
                   linkTarget: Array("dir/first".utf8), changing: true),
        FilesEntry(name: Array("empty".utf8), kind: .file, mode: 0o100600),
    ]

    @Test func treesRoundTripWithBytesNamesAndSortByBytes() throws {
        let tree = FilesTree(entries: Self.entries)
        #expect(tree.entries.map(\.name) == [[0x0a, 0xff, 0xc3], Array("dir".utf8), Array("empty".utf8), Array("hard".utf8), Array("z-file".utf8)])
        let decoded = try FilesTree.decode(tree.encoded())
        #expect(decoded == tree)
        // Deterministic: the same entries in another order encode to the same bytes.
        #expect(FilesTree(entries: Self.entries.reversed()).encoded() == tree.encoded())
        #expect(decoded.entry(named: Array("hard".utf8))?.linkTarget == Array("dir/first".utf8))
        #expect(decoded.entry(named: Array("nope".utf8)) == nil)
    }

    @Test func damagedTreesAreRefused() throws {
        let good = FilesTree(entries: Self.entries).encoded()
        #expect(throws: TidemarkError.self) { try FilesTree.decode(Array(good.dropLast())) }
        #expect(throws: TidemarkError.self) { try FilesTree.decode(good + [0]) }
        var version = good
        version[4] = 2
        #expect(throws: TidemarkError.self) { try FilesTree.decode(version) }
        // Two entries of one name (a crafted tree): refused, so restore never meets a name twice.
        let a = FilesEntry(name: Array("x".utf8), kind: .symlink, symlinkTarget: Array("/etc".utf8))
        let b = FilesEntry(name: Array("x".utf8), kind: .directory, subtree: Self.id(9))
        var w = FilesByteWriter()
        let single = FilesTree(entries: [a]).encoded()
        let other = FilesTree(entries: [b]).encoded()
        w.raw(Array(single.prefix(5)))
        w.varint(2)
        w.raw(Array(single.dropFirst(6)))
        w.raw(Array(other.dropFirst(6)))
        let error = #expect(throws: TidemarkError.self) { try FilesTree.decode(w.bytes) }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains("out of order or repeated") == true)
    }

    @Test func snapshotsRoundTripAndSkipUnknownFields() throws {
        var s = FilesSnapshot(id: FilesSnapshot.newID(), time: 1_764_700_000_000_000_000, kind: .incremental, label: "nightly",
                              parent: FilesSnapshot.newID(),
                              roots: [.init(path: Array("/srv/uploads".utf8), root: FilesEntry(name: Array("/srv/uploads".utf8), kind: .directory, subtree: Self.id(4))),
                                      .init(path: Array("/srv/missing".utf8), root: nil)])
        s.databaseBackupID = "20261203-101500F"
        s.walStart = "0/3000028"
        s.walEnd = "0/3000100"
        s.counts.files = 3
        s.counts.bytes = 1 << 40
        s.counts.newBytes = 12
        s.counts.unreadable = 1
        s.unreadablePaths = [.init(path: [0xff, 0x0a], reason: "Permission denied")]
        s.changingPaths = [Array("/srv/uploads/part".utf8)]
        s.skippedPaths = [.init(path: Array("/srv/uploads/sock".utf8), reason: "socket")]
        #expect(try FilesSnapshot.decode(s.encoded()) == s)
        var w = FilesByteWriter()
        w.field(99) { $0.string("a field from a later version") }
        #expect(try FilesSnapshot.decode(s.encoded() + w.bytes) == s)
        #expect(throws: TidemarkError.self) { try FilesSnapshot.decode(Array(s.encoded().dropLast())) }
    }

    @Test func snapshotStoreWritesReadsListsAndRefusesTheWrongKey() async throws {
        let store = MemoryStore()
        let key = RepositoryKey.generate()
        let snapshots = FilesSnapshotStore(store: store, key: key, stanza: "main")
        let older = FilesSnapshot(id: FilesSnapshot.newID(), time: 100, kind: .full)
        let newer = FilesSnapshot(id: FilesSnapshot.newID(), time: 200, kind: .incremental, parent: older.id)
        try await snapshots.write(newer)
        try await snapshots.write(older)
        await #expect(throws: TidemarkError.self) { try await snapshots.write(older) }
        #expect(try await snapshots.readAll().map(\.id) == [older.id, newer.id])
        #expect(try await snapshots.read(FilesSnapshot.newID()) == nil)
        #expect(store.snapshot.keys.allSatisfy { $0.hasPrefix("main/files/snapshots/") })
        let all = try await snapshots.readAll()
        #expect(FilesSnapshot.newest(of: all, atOrBefore: 150)?.id == older.id)
        #expect(FilesSnapshot.newest(of: all, atOrBefore: 200)?.id == newer.id)
        #expect(FilesSnapshot.newest(of: all, atOrBefore: 99) == nil)
        let wrong = FilesSnapshotStore(store: store, key: RepositoryKey.generate(), stanza: "main")
        let error = await #expect(throws: TidemarkError.self) { _ = try await wrong.read(older.id) }
        #expect(error?.code == .corrupt)
        await #expect(throws: TidemarkError.self) { _ = try await snapshots.read("../../etc") }
    }

    @Test(arguments: [
        ("*.tmp", "a/b/x.tmp", false, true),
        ("*.tmp", "x.tmp", false, true),
        ("*.tmp", "x.tmpl", false, false),
        ("cache/", "a/cache", true, true),
        ("cache/", "a/cache", false, false),
        ("cache/", "cache", true, true),
        ("/build", "build", true, true),
        ("/build", "a/build", true, false),
        ("a/*/tmp", "a/b/tmp", false, true),
        ("a/*/tmp", "a/b/c/tmp", false, false),
    ])
    func excludes(pattern: String, path: String, isDirectory: Bool, excluded: Bool) {
        #expect(FilesExcludes([pattern]).excludes(relativePath: Array(path.utf8), isDirectory: isDirectory) == excluded)
    }

    @Test func restoreFilters() {
        let f = FilesRestoreFilter(["/srv/uploads/avatars/"])
        #expect(f.decision(Array("/srv/uploads/avatars".utf8)) == .include)
        #expect(f.decision(Array("/srv/uploads/avatars/a.png".utf8)) == .include)
        #expect(f.decision(Array("/srv/uploads".utf8)) == .descend)
        #expect(f.decision(Array("/srv/uploads/avatarsX".utf8)) == .skip)
        #expect(f.decision(Array("/srv/other".utf8)) == .skip)
        #expect(FilesRestoreFilter([]).decision(Array("/x".utf8)) == .include)
    }

    @Test func safeNamesAndDisplay() {
        #expect(FilesEntry.isSafeName(Array("a b\n".utf8)))
        for bad in ["", ".", "..", "a/b", "/"] { #expect(!FilesEntry.isSafeName(Array(bad.utf8))) }
        #expect(!FilesEntry.isSafeName([0x61, 0]))
        #expect(FilesPath.display([0x61, 0x0a, 0xff]) == "a\\n\\xFF")
    }
}
