import Testing
import TidemarkCore
import TidemarkTesting
@testable import TidemarkFiles

@Suite("Files diff")
struct FilesDiffTests {
    static func id(_ b: UInt8) -> ChunkID { ChunkID(bytes: [UInt8](repeating: b, count: 32)) }
    static func file(_ name: String, _ chunk: UInt8, mode: UInt32 = 0o100644, mtime: Int64 = 1) -> FilesEntry {
        FilesEntry(name: Array(name.utf8), kind: .file, mode: mode, mtime: mtime, size: 1, chunks: [id(chunk)])
    }

    @Test func oneLevelIsComparedByName() {
        let old = FilesTree(entries: [Self.file("same", 1), Self.file("gone", 2), Self.file("edited", 3), Self.file("chmod", 4),
                                      FilesEntry(name: Array("d".utf8), kind: .directory, mode: 0o40755, subtree: Self.id(10)),
                                      FilesEntry(name: Array("e".utf8), kind: .directory, mode: 0o40755, subtree: Self.id(11))])
        let new = FilesTree(entries: [Self.file("same", 1), Self.file("edited", 5), Self.file("chmod", 4, mode: 0o100600),
                                      Self.file("fresh", 6),
                                      FilesEntry(name: Array("d".utf8), kind: .directory, mode: 0o40755, subtree: Self.id(12)),
                                      FilesEntry(name: Array("e".utf8), kind: .directory, mode: 0o40755, subtree: Self.id(11))])
        let level = FilesDiff.compare(old, new)
        #expect(level.changes.map { "\(String(decoding: $0.name, as: UTF8.self)) \($0.kind)" }
            == ["chmod metadata", "edited modified", "fresh added", "gone removed"])
        #expect(level.descend.map(\.name) == [Array("d".utf8)])
        #expect(FilesDiff.compare(old, old).changes.isEmpty)
    }

    @Test func snapshotsAreComparedThroughChangedSubtreesWithRenames() async throws {
        let store = MemoryChunkStore()
        func snapshot(_ entries: [FilesEntry]) -> FilesSnapshot {
            FilesRestoreSafetyTests.crafted(entries, store: store, path: "/data")
        }
        let sub1 = store.store(FilesTree(entries: [Self.file("a", 1), Self.file("b", 2)]).encoded())
        let sub2 = store.store(FilesTree(entries: [Self.file("a", 1), Self.file("c", 2)]).encoded())
        let old = snapshot([FilesEntry(name: Array("sub".utf8), kind: .directory, subtree: sub1), Self.file("top", 3)])
        let new = snapshot([FilesEntry(name: Array("sub".utf8), kind: .directory, subtree: sub2), Self.file("top", 3, mtime: 2)])
        let changes = try await FilesDiff.diff(old, new, source: store)
        #expect(changes == [FilesChange(kind: .renamed, path: Array("/data/sub/c".utf8), from: Array("/data/sub/b".utf8)),
                            FilesChange(kind: .metadata, path: Array("/data/top".utf8))])
        #expect(try await FilesDiff.diff(old, old, source: store).isEmpty)
    }
}
