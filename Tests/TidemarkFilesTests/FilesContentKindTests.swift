import Testing
@testable import TidemarkFiles

@Suite("Files content kind")
struct FilesContentKindTests {
    @Test func compressedFormatsAreRecognisedByTheirMagic() {
        let cases: [([UInt8], FilesContentKind)] = [
            ([0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10], .jpeg),
            ([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0], .png),
            (Array("GIF89a...".utf8), .gif),
            (Array("RIFF\u{1}\u{2}\u{3}\u{4}WEBPVP8 ".utf8), .webp),
            ([0, 0, 0, 0x20] + Array("ftypisom".utf8), .isoMedia),
            ([0, 0, 0, 0x14] + Array("ftypqt  ".utf8), .isoMedia),
            (Array("%PDF-1.7\n".utf8), .pdf),
            ([0x50, 0x4B, 0x03, 0x04, 0x14, 0], .zip),
            ([0x1F, 0x8B, 0x08, 0], .gzip),
            ([0x28, 0xB5, 0x2F, 0xFD, 0], .zstd),
            ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 0], .xz),
            (Array("BZh91AY".utf8), .bzip2),
            ([0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C, 0], .sevenZip),
        ]
        for (head, kind) in cases {
            #expect(FilesContentKind.detect(head) == kind, "\(head)")
            #expect(!FilesContentKind.compressible(head))
        }
    }

    @Test func everythingElseIsCompressed() {
        for head in [Array("hello, world".utf8), [], [0xFF, 0xD8], Array("RIFF....WAVE".utf8), Array("<html>".utf8)] {
            #expect(FilesContentKind.detect(head) == .other)
            #expect(FilesContentKind.compressible(head))
        }
    }
}
