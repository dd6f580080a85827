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

extension SyntheticWAL {
    /// A segment as `pg_switch_wal()` leaves it after one transaction: a commit record with
    /// `xact_time` `commitTime` (so the archived summary carries a commit time), then an XLOG
    /// SWITCH record, then zeros (compresses to almost nothing, like a real switched segment).
    /// Records are 8-aligned with valid CRC-32C and an `xl_prev` chain across consecutive
    /// segments: `previousRecord(before:)` of this segment is the switch of the one before.
    public static func commitSegment(_ name: WALSegmentName, commitTime: PostgresTimestamp, xid: UInt32,
                                     size: WALSegmentSize = WALSegmentSize(rawValue: 1 << 20)!,
                                     systemIdentifier: UInt64 = 7_300_000_000_000_000_001,
                                     magic: UInt16 = 0xD110) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Int(size.rawValue))
        func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            for i in 0..<MemoryLayout<T>.size { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
        }
        let start = name.startLSN(size: size)?.rawValue ?? 0
        put(magic, at: 0)
        put(UInt16(0x0006), at: 2)  // XLP_LONG_HEADER | XLP_BKP_REMOVABLE
        put(name.timeline.rawValue, at: 4)
        put(start, at: 8)
        put(systemIdentifier, at: 24)
        put(UInt32(size.rawValue), at: 32)
        put(UInt32(8192), at: 36)
        var main: [UInt8] = []
        for i in 0..<8 { main.append(UInt8(truncatingIfNeeded: commitTime.rawValue >> (8 * i))) }
        let commit = record(rmid: 1, info: 0x00, xid: xid, prev: previousRecord(before: name, size: size), main: main)
        let commitLSN = start + UInt64(commitOffset)
        bytes.replaceSubrange(commitOffset..<commitOffset + commit.count, with: commit)
        let switchOffset = (commitOffset + commit.count + 7) & ~7
        let switchRecord = record(rmid: 0, info: 0x40, xid: 0, prev: commitLSN, main: [])
        bytes.replaceSubrange(switchOffset..<switchOffset + switchRecord.count, with: switchRecord)
        return bytes
    }

    /// Where `commitSegment` puts its commit record: right after the long page header.
    public static let commitOffset = 40

    /// The LSN of the switch record ending the segment before `name` (0 for the first).
    public static func previousRecord(before name: WALSegmentName, size: WALSegmentSize = WALSegmentSize(rawValue: 1 << 20)!) -> UInt64 {
        guard let start = name.startLSN(size: size)?.rawValue, start >= size.rawValue else { return 0 }
        // Commit: 24-byte header + 2-byte short main-data header + 8 bytes, 8-aligned.
        return start - size.rawValue + UInt64(commitOffset) + UInt64((24 + 2 + 8 + 7) & ~7)
    }

    /// One WAL record: the 24-byte header (CRC-32C over the data, then the header up to the
    /// CRC), then a short main-data fragment header and `main`.
    static func record(rmid: UInt8, info: UInt8, xid: UInt32, prev: UInt64, main: [UInt8]) -> [UInt8] {
        var body: [UInt8] = []
        if !main.isEmpty { body += [255, UInt8(main.count)] + main }
        var head: [UInt8] = []
        func put<T: FixedWidthInteger>(_ value: T) {
            for i in 0..<MemoryLayout<T>.size { head.append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
        }
        put(UInt32(24 + body.count))
        put(xid)
        put(prev)
        put(info)
        put(rmid)
        put(UInt16(0))
        var crc = CRC32C()
        crc.update(body)
        crc.update(head)
        put(crc.finalize())
        return head + body
    }
}
