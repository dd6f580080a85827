/// Whether a file's content is worth compressing, from its first bytes (magic numbers).
///
/// Formats that are already compressed are stored as they are: recompressing them costs CPU
/// and saves nothing. PDF counts as compressed: its streams are usually Flate-encoded.
/// Everything else is compressed with zstd.
public enum FilesContentKind: String, Sendable, CaseIterable {
    case jpeg, png, gif, webp, isoMedia, pdf, zip, gzip, zstd, xz, bzip2, sevenZip
    /// Anything not recognised: compressed.
    case other

    /// How many leading bytes `detect` looks at (at most).
    public static let sniffLength = 16

    /// The kind of content starting with `head` (the first bytes of the file; fewer is fine).
    public static func detect(_ head: some Collection<UInt8>) -> FilesContentKind {
        let b = Array(head.prefix(sniffLength))
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            b.count >= offset + magic.count && Array(b[offset..<(offset + magic.count)]) == magic
        }
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return .gif }
        if starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) { return .webp }
        // MP4, MOV, HEIC, 3GP, M4A: an ISO base media file starts with a box named `ftyp`.
        if starts(Array("ftyp".utf8), at: 4) { return .isoMedia }
        if starts(Array("%PDF-".utf8)) { return .pdf }
        // ZIP and its family (docx, xlsx, odt, jar, apk, epub): a local file header, or the
        // end-of-central-directory record of an empty archive, or a spanned archive.
        if starts([0x50, 0x4B, 0x03, 0x04]) || starts([0x50, 0x4B, 0x05, 0x06]) || starts([0x50, 0x4B, 0x07, 0x08]) { return .zip }
        if starts([0x1F, 0x8B]) { return .gzip }
        if starts([0x28, 0xB5, 0x2F, 0xFD]) { return .zstd }
        if starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { return .xz }
        if starts(Array("BZh".utf8)) { return .bzip2 }
        if starts([0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C]) { return .sevenZip }
        return .other
    }

    /// Whether chunks of such content are compressed before they are packed.
    public var compressible: Bool { self == .other }

    /// `detect(head).compressible`: what the tree side passes to `ChunkSink.put` for every
    /// chunk of a file, judged from the file's first bytes.
    public static func compressible(_ head: some Collection<UInt8>) -> Bool { detect(head).compressible }
}
