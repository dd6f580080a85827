import Crypto
import TidemarkSystem

/// What an object holds; stored in the header and covered by authentication.
public enum ObjectKind: UInt8, Sendable, Codable, CaseIterable {
    case generic = 0
    case walSegment = 1
    case timelineHistory = 2
    case backupHistory = 3
    case partialSegment = 4
    case stanzaInfo = 5
    case catalog = 6
    case backupData = 7
    /// A WAL segment's summary kept beside the archive (`tidemark reindex`).
    case walIndex = 8
    /// What `tidemark verify` has verified (`<stanza>/verify.ledger`).
    case verifyLedger = 9
    /// One entry of the audit log (`<stanza>/audit/<seq>`, TidemarkAudit).
    case auditEntry = 10
    /// File backups (TidemarkFiles, docs/files.md): a pack of chunks.
    case filesPack = 11
    /// File backups: one page of the chunk → pack index.
    case filesIndex = 12
    /// File backups: a snapshot (its root tree, the database backup taken with it).
    case filesSnapshot = 13
    /// File backups: the stanza's chunking secret (`<stanza>/files/config`).
    case filesConfig = 14
}

/// The fixed 80-byte envelope header. See docs/format.md for the layout.
public struct EnvelopeHeader: Hashable, Sendable {
    public static let size = 80
    public static let magic = Array("TIDEMARK".utf8)
    public static let currentVersion: UInt8 = 1
    public static let cipherAES256GCM: UInt8 = 1
    public static let maxChunkSize = 16 << 20
    /// Summaries are small; the bound keeps a tampered header from making a reader buffer much.
    public static let maxSummaryFrame = 64 << 10

    public var version: UInt8 = currentVersion
    public var compression: CompressionAlgorithm
    public var kind: ObjectKind
    public var chunkSize: Int
    public var keyID: [UInt8]
    public var salt: [UInt8]
    /// Bytes of the summary frame that follows the header (0 when the object has none).
    public var summaryFrameLength: Int
    /// Flag bits (byte 68). Bit 0: the trailer carries no checksum of the plaintext (all zero);
    /// used for backup packs, whose content the catalog's per-file SHA-256 covers. Bit 1: the
    /// trailer carries XXH3-128 of the plaintext (16 bytes, then 16 zero bytes) instead of its
    /// SHA-256; WAL objects. Neither: SHA-256. Both: invalid.
    public var flags: UInt8 = 0
    public static let flagNoDigest: UInt8 = 0x01
    public static let flagXXH3: UInt8 = 0x02
    public var hasDigest: Bool { digestKind != .none }
    public var digestKind: PlaintextDigestKind {
        get { flags & Self.flagNoDigest != 0 ? .none : flags & Self.flagXXH3 != 0 ? .xxh3 : .sha256 }
        set {
            flags &= ~(Self.flagNoDigest | Self.flagXXH3)
            switch newValue {
            case .none: flags |= Self.flagNoDigest
            case .sha256: break
            case .xxh3: flags |= Self.flagXXH3
            }
        }
    }

    public func encoded() -> [UInt8] {
        var b = Self.magic
        b.append(version)
        b.append(compression.id)
        b.append(Self.cipherAES256GCM)
        b.append(kind.rawValue)
        appendLE(&b, UInt32(chunkSize))
        b += keyID
        b += salt
        appendLE(&b, UInt32(summaryFrameLength))
        b.append(flags)
        b += [UInt8](repeating: 0, count: 11)
        return b
    }

    public init(compression: CompressionAlgorithm, kind: ObjectKind, chunkSize: Int, keyID: [UInt8], salt: [UInt8], summaryFrameLength: Int) {
        self.compression = compression
        self.kind = kind
        self.chunkSize = chunkSize
        self.keyID = keyID
        self.salt = salt
        self.summaryFrameLength = summaryFrameLength
    }

    public init(parsing b: [UInt8]) throws(EnvelopeError) {
        guard b.count >= 8, Array(b[0..<8]) == Self.magic else {
            throw b.count < 8 && Self.magic.starts(with: b) ? .truncated : .notAnEnvelope
        }
        guard b.count >= Self.size else { throw .truncated }
        version = b[8]
        guard version == Self.currentVersion else {
            // 0 was never written: damage, not a newer format.
            throw version > Self.currentVersion ? .unsupportedVersion(version) : .corrupt("format version \(version)")
        }
        guard let c = CompressionAlgorithm(id: b[9]) else { throw .unsupportedAlgorithm("compression id \(b[9])") }
        compression = c
        guard b[10] == Self.cipherAES256GCM else { throw .unsupportedAlgorithm("cipher id \(b[10])") }
        guard let k = ObjectKind(rawValue: b[11]) else { throw .unsupportedAlgorithm("object kind \(b[11])") }
        kind = k
        chunkSize = Int(loadLE(b, 12, UInt32.self))
        guard chunkSize > 0, chunkSize <= Self.maxChunkSize else { throw .corrupt("chunk size \(chunkSize)") }
        keyID = Array(b[16..<32])
        salt = Array(b[32..<64])
        summaryFrameLength = Int(loadLE(b, 64, UInt32.self))
        guard summaryFrameLength == 0 || (summaryFrameLength >= frameHeaderSize + tagSize && summaryFrameLength <= Self.maxSummaryFrame) else {
            throw .corrupt("summary length \(summaryFrameLength)")
        }
        flags = b[68]
        guard flags & ~(Self.flagNoDigest | Self.flagXXH3) == 0 else { throw .unsupportedAlgorithm("header flags 0x\(String(flags, radix: 16))") }
        guard flags & (Self.flagNoDigest | Self.flagXXH3) != (Self.flagNoDigest | Self.flagXXH3) else {
            throw .corrupt("header flags 0x\(String(flags, radix: 16)) ask for no checksum and XXH3-128 at once")
        }
        guard b[69..<80].allSatisfy({ $0 == 0 }) else { throw .corrupt("reserved header bytes are not zero") }
    }
}

enum FrameType: UInt8 {
    case data = 0
    case final = 1
    case summary = 2
}

/// Frame header: type u8, sealed length u32 LE.
let frameHeaderSize = 5
let tagSize = 16
/// Trailer plaintext: length u64, chunk count u64, the 32-byte digest field (SHA-256, or
/// XXH3-128 and 16 zero bytes, or 32 zero bytes: the header's flags say which).
let trailerSize = 48
let digestFieldSize = 32

func nonce(counter: UInt64, type: FrameType) -> AES.GCM.Nonce {
    var n = [UInt8](repeating: 0, count: 12)
    for i in 0..<8 { n[i] = UInt8(truncatingIfNeeded: counter >> (56 - 8 * i)) }
    n[8] = type.rawValue
    // A 12-byte nonce is always valid.
    return try! AES.GCM.Nonce(data: n)
}

/// What the final frame proves about the plaintext.
public struct EnvelopeTrailer: Hashable, Sendable {
    public var length: UInt64
    public var chunkCount: UInt64
    public var digestKind: PlaintextDigestKind
    /// The plaintext's checksum, `digestKind.size` bytes (empty for `.none`).
    public var digest: [UInt8]
    public var digestHex: String { hexString(digest) }
    /// The SHA-256 of the plaintext when that is what the object carries (objects other than
    /// WAL, and WAL objects written before XXH3-128).
    public var sha256: [UInt8]? { digestKind == .sha256 ? digest : nil }
    public var sha256Hex: String? { sha256.map(hexString) }

    public init(length: UInt64, chunkCount: UInt64, digestKind: PlaintextDigestKind, digest: [UInt8]) {
        self.length = length
        self.chunkCount = chunkCount
        self.digestKind = digestKind
        self.digest = digest
    }

    /// Parses the 32-byte digest field; throws when the bytes past the checksum are not zero.
    static func digest(field: ArraySlice<UInt8>, kind: PlaintextDigestKind) throws(EnvelopeError) -> [UInt8] {
        guard field.dropFirst(kind.size).allSatisfy({ $0 == 0 }) else {
            throw .corrupt("the trailer's digest field has bytes past its \(kind.label)")
        }
        return Array(field.prefix(kind.size))
    }

    /// The 32-byte digest field for `digest`.
    static func field(_ digest: [UInt8]) -> [UInt8] {
        digest + [UInt8](repeating: 0, count: digestFieldSize - digest.count)
    }
}

@inline(__always)
func appendLE<T: FixedWidthInteger>(_ b: inout [UInt8], _ v: T) {
    for i in 0..<MemoryLayout<T>.size { b.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
}

@inline(__always)
func loadLE<T: FixedWidthInteger>(_ b: [UInt8], _ offset: Int, _: T.Type) -> T {
    var v: T = 0
    for i in 0..<MemoryLayout<T>.size { v |= T(b[offset + i]) << (8 * i) }
    return v
}
