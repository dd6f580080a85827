import Crypto
import TidemarkSystem

/// Proves an object is whole without reading it: its last bytes must be the authenticated
/// final frame, declaring the plaintext length the caller expects. Data frames are not read,
/// so damage inside the object is found only when it is read (wal-fetch, verify); truncation,
/// which removes the final frame, is found here.
public enum EnvelopeTrailerCheck {
    /// Bytes of the final frame: frame header, sealed trailer (length, chunk count, digest field), tag.
    public static let finalFrameSize = frameHeaderSize + trailerSize + tagSize

    /// Authenticates `tail` (the object's last `finalFrameSize` bytes) as the final frame of
    /// the object whose first `EnvelopeHeader.size` bytes are `headerBytes` and whose plaintext
    /// is `expectedLength` bytes long (which fixes the chunk count, the final frame's nonce).
    public static func trailer(header headerBytes: [UInt8], tail: [UInt8], expectedLength: UInt64,
                               key repositoryKey: RepositoryKey) throws(EnvelopeError) -> EnvelopeTrailer {
        let aad = Array(headerBytes.prefix(EnvelopeHeader.size))
        let header = try EnvelopeHeader(parsing: aad)
        guard header.keyID == repositoryKey.id else {
            throw .keyMismatch(expected: repositoryKey.idHex, found: hexString(header.keyID))
        }
        guard tail.count == finalFrameSize else { throw .truncated }
        guard tail[0] == FrameType.final.rawValue,
              Int(tail[1]) | Int(tail[2]) << 8 | Int(tail[3]) << 16 | Int(tail[4]) << 24 == trailerSize + tagSize else {
            throw .truncated
        }
        let chunkSize = UInt64(header.chunkSize)
        let count = (expectedLength + chunkSize - 1) / chunkSize
        let plain: [UInt8]
        do {
            let box = try AES.GCM.SealedBox(nonce: nonce(counter: count, type: .final),
                                            ciphertext: tail[frameHeaderSize..<(frameHeaderSize + trailerSize)],
                                            tag: tail[(frameHeaderSize + trailerSize)...])
            plain = Array(try AES.GCM.open(box, using: repositoryKey.objectKey(salt: header.salt), authenticating: aad))
        } catch {
            // A trailer sealed for another length or chunk count fails here too.
            throw .authenticationFailed("the trailer (for \(expectedLength) bytes in \(count) chunks)", cause: error)
        }
        let length = loadLE(plain, 0, UInt64.self)
        let chunks = loadLE(plain, 8, UInt64.self)
        guard length == expectedLength, chunks == count else {
            throw .corrupt("trailer declares \(length) bytes in \(chunks) chunks, expected \(expectedLength) in \(count)")
        }
        let kind = header.digestKind
        return EnvelopeTrailer(length: length, chunkCount: chunks, digestKind: kind,
                               digest: try EnvelopeTrailer.digest(field: plain[16..<48], kind: kind))
    }
}
