import CXXHash
import Crypto

/// Which checksum of the plaintext an object's trailer carries (header flags, docs/format.md).
///
/// GCM authenticates every frame and the final frame binds length and chunk count, so the
/// checksum guards against one thing only: a codec bug that seals wrong bytes. WAL objects carry
/// XXH3-128 (about 1/20 of SHA-256's cost per segment); other objects SHA-256; backup packs none
/// (the catalog's per-file SHA-256 covers them).
public enum PlaintextDigestKind: String, Sendable, Hashable, CaseIterable {
    case none
    case sha256
    case xxh3 = "xxh3-128"

    /// Bytes of the checksum in the trailer's 32-byte digest field (the rest is zero).
    public var size: Int {
        switch self {
        case .none: 0
        case .sha256: 32
        case .xxh3: 16
        }
    }

    /// What error messages call it.
    public var label: String {
        switch self {
        case .none: "no checksum"
        case .sha256: "SHA-256"
        case .xxh3: "XXH3-128"
        }
    }

    /// The checksum of `bytes` in one call.
    public func digest(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = PlaintextHasher(self)
        hasher.update(bytes)
        return hasher.finalize()
    }

    public func digest(_ bytes: [UInt8]) -> [UInt8] { bytes.withUnsafeBytes { digest($0) } }
}

/// Incremental checksum of one of the kinds; `finalize` gives `kind.size` bytes.
public struct PlaintextHasher: @unchecked Sendable {
    // @unchecked: the XXH3 state is a class owned by this value; a hasher is updated by one
    // thread at a time (EnvelopeWriter hands it to exactly one parallelFor iteration).
    private enum State {
        case none
        case sha256(SHA256)
        case xxh3(XXH3Hasher)
    }
    private var state: State
    public let kind: PlaintextDigestKind

    public init(_ kind: PlaintextDigestKind) {
        self.kind = kind
        switch kind {
        case .none: state = .none
        case .sha256: state = .sha256(SHA256())
        case .xxh3: state = .xxh3(XXH3Hasher())
        }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .none: break
        case .sha256(var h):
            h.update(bufferPointer: bytes)
            state = .sha256(h)
        case .xxh3(let h): h.update(bytes)
        }
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    public func finalize() -> [UInt8] {
        switch state {
        case .none: []
        case .sha256(let h): Array(h.finalize())
        case .xxh3(let h): h.finalize()
        }
    }
}

/// XXH3-128 with libxxhash's streaming API; the result in canonical (big-endian) form, as
/// `xxh128sum` prints it.
public final class XXH3Hasher: @unchecked Sendable {
    // @unchecked: one thread at a time (see PlaintextHasher).
    private let state: OpaquePointer

    public init() {
        // XXH3_createState fails only when malloc does.
        guard let s = XXH3_createState() else { fatalError("XXH3_createState: out of memory") }
        state = s
        XXH3_128bits_reset(state)
    }

    deinit { XXH3_freeState(state) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        XXH3_128bits_update(state, base, bytes.count)
    }

    public func finalize() -> [UInt8] { Self.canonical(XXH3_128bits_digest(state)) }

    /// XXH3-128 of `bytes` in one call.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        canonical(XXH3_128bits(bytes.baseAddress, bytes.count))
    }

    static func canonical(_ h: XXH128_hash_t) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            out[i] = UInt8(truncatingIfNeeded: h.high64 >> (56 - 8 * i))
            out[8 + i] = UInt8(truncatingIfNeeded: h.low64 >> (56 - 8 * i))
        }
        return out
    }
}
