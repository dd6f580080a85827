import TidemarkCore

/// Builds WAL files with a valid long page header and arbitrary content, for unit tests that
/// need segments without a server (integration tests use real ones).
public enum SyntheticWAL {
    /// A whole segment named `name`, `size` bytes, from cluster `systemIdentifier`; the bytes
    /// after the header are a pattern seeded by `seed` (compressible but not constant).
    public static func segment(_ name: WALSegmentName, size: WALSegmentSize = WALSegmentSize(rawValue: 1 << 20)!,
                               systemIdentifier: UInt64 = 7_300_000_000_000_000_001, seed: UInt8 = 0,
                               magic: UInt16 = 0xD110) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Int(size.rawValue))
        func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            for i in 0..<MemoryLayout<T>.size { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
        }
        put(magic, at: 0)
        put(UInt16(0x0006), at: 2)
        put(name.timeline.rawValue, at: 4)
        put(name.startLSN(size: size)?.rawValue ?? 0, at: 8)
        put(systemIdentifier, at: 24)
        put(UInt32(size.rawValue), at: 32)
        put(UInt32(8192), at: 36)
        var x = UInt32(seed) &+ 1
        for i in stride(from: WALLongPageHeader.size, to: bytes.count, by: 1) where i % 7 == 0 {
            x = x &* 1_103_515_245 &+ 12_345
            bytes[i] = UInt8(truncatingIfNeeded: x >> 16)
        }
        return bytes
    }
}
