/// Compression of one record outside the envelope's own per-frame compression, for objects
/// whose records are compressed one by one (or not at all) inside an uncompressed envelope
/// (file-backup packs: each chunk compressed alone, already-compressed content stored raw).
public enum RecordCompression {
    /// The compressed bytes, or nil when compression would not make them smaller.
    public static func compress(_ input: UnsafeRawBufferPointer, algorithm: CompressionAlgorithm, level: Int32? = nil) -> [UInt8]? {
        guard algorithm != .none, input.count > 0 else { return nil }
        let bound = Compressor.bound(algorithm, input.count)
        var size = 0
        let out = [UInt8](unsafeUninitializedCapacity: bound) { buffer, initialized in
            size = Compressor.compress(input, into: UnsafeMutableRawBufferPointer(buffer), algorithm: algorithm,
                                       level: level ?? algorithm.defaultLevel) ?? 0
            initialized = size
        }
        return size > 0 ? out : nil
    }

    /// Exactly `rawLength` bytes; throws when the data does not decompress to them.
    public static func decompress(_ input: UnsafeRawBufferPointer, algorithm: CompressionAlgorithm, rawLength: Int) throws(EnvelopeError) -> [UInt8] {
        try Compressor.decompress(input, algorithm: algorithm, rawLength: rawLength)
    }
}
