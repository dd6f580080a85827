import TidemarkSystem
/// Why an envelope could not be written or read. Descriptions never contain key material.
public enum EnvelopeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes do not start with the envelope magic.
    case notAnEnvelope
    case unsupportedVersion(UInt8)
    case unsupportedAlgorithm(String)
    /// The object was written under a different repository key.
    case keyMismatch(expected: String, found: String)
    /// A chunk, the summary or the trailer failed AES-GCM authentication: damaged or tampered.
    case authenticationFailed(String)
    /// The object ends before its trailer.
    case truncated
    /// Anything else structurally wrong (lengths, trailing bytes, checksum).
    case corrupt(String)

    public var description: String {
        switch self {
        case .notAnEnvelope: return "not a Tidemark object (bad magic)"
        case .unsupportedVersion(let v): return "object format version \(v) is newer than this Tidemark understands"
        case .unsupportedAlgorithm(let a): return "unsupported algorithm in object header: \(a)"
        case .keyMismatch(let e, let f): return "object was encrypted with key \(f), repository key is \(e)"
        case .authenticationFailed(let what): return "authentication failed for \(what): the object is damaged or was tampered with"
        case .truncated: return "object is truncated (no authenticated trailer)"
        case .corrupt(let why): return "object is corrupt: \(why)"
        }
    }
}
