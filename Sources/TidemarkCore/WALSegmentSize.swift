/// `wal_segment_size`: a power of two between 1 MiB and 1 GiB, fixed at `initdb`.
public struct WALSegmentSize: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: UInt64

    public static let `default` = WALSegmentSize(unchecked: 16 * 1024 * 1024)
    public static let minimum: UInt64 = 1 << 20
    public static let maximum: UInt64 = 1 << 30

    /// Returns nil unless `rawValue` is a power of two in 1 MiB...1 GiB.
    public init?(rawValue: UInt64) {
        guard rawValue >= Self.minimum, rawValue <= Self.maximum, rawValue & (rawValue - 1) == 0 else { return nil }
        self.rawValue = rawValue
    }

    init(unchecked: UInt64) { self.rawValue = unchecked }

    public init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer().decode(UInt64.self)
        guard let size = WALSegmentSize(rawValue: value) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid WAL segment size \(value)"))
        }
        self = size
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// Segments per 4 GiB "xlogid" (256 for 16 MiB segments).
    public var segmentsPerXLogID: UInt64 { 0x1_0000_0000 / rawValue }

    public var description: String {
        rawValue >= 1 << 20 ? "\(rawValue >> 20) MiB" : "\(rawValue) bytes"
    }
}

/// A segment number (`XLogSegNo`): `lsn / wal_segment_size`.
public typealias SegmentNumber = UInt64

extension LSN {
    /// The segment holding the byte at this position.
    public func segment(size: WALSegmentSize) -> SegmentNumber { rawValue / size.rawValue }

    /// The segment holding the last byte before this position: a record that ends exactly on a
    /// segment boundary belongs to the earlier file (`XLByteToPrevSeg`).
    public func segmentEndingHere(size: WALSegmentSize) -> SegmentNumber {
        rawValue == 0 ? 0 : (rawValue - 1) / size.rawValue
    }

    /// Offset of this position inside its segment.
    public func offset(in size: WALSegmentSize) -> UInt64 { rawValue % size.rawValue }

    /// The first byte of segment `segment`.
    public static func start(of segment: SegmentNumber, size: WALSegmentSize) -> LSN {
        LSN(segment &* size.rawValue)
    }
}
