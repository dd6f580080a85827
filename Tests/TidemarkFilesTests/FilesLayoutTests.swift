import Testing
@testable import TidemarkFiles

@Suite("Files layout")
struct FilesLayoutTests {
    @Test func keysSitBelowTheStanza() {
        #expect(FilesLayout.pack("main", "ab12cd") == "main/files/packs/ab/ab12cd")
        #expect(FilesLayout.snapshot("main", "0f") == "main/files/snapshots/0f")
        #expect(FilesLayout.config("main") == "main/files/config")
    }

    @Test func chunkIDsRoundTripThroughHex() throws {
        let id = ChunkID(bytes: (0..<32).map { UInt8($0 * 7 & 0xff) })
        #expect(ChunkID(hex: id.description) == id)
        #expect(id.description.count == 64)
        #expect(ChunkID(hex: "zz" + String(id.description.dropFirst(2))) == nil)
    }
}
