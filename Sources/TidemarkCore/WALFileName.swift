/// A WAL segment identified by timeline and segment number; its file name is
/// `TTTTTTTTXXXXXXXXYYYYYYYY` (`XLogFileName`).
public struct WALSegmentName: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var timeline: TimelineID
    /// `log` (high part) and `seg` (low part) as written in the name.
    public var log: UInt32
    public var seg: UInt32

    public init(timeline: TimelineID, log: UInt32, seg: UInt32) {
        self.timeline = timeline
        self.log = log
        self.seg = seg
    }

    public init(timeline: TimelineID, segment: SegmentNumber, size: WALSegmentSize) {
        let perID = size.segmentsPerXLogID
        self.init(timeline: timeline, log: UInt32(truncatingIfNeeded: segment / perID),
                  seg: UInt32(truncatingIfNeeded: segment % perID))
    }

    /// Parses exactly 24 upper-case hex digits (PostgreSQL never writes lower case).
    public init?(_ text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        guard utf8.count == 24, utf8.allSatisfy(isUpperHex) else { return nil }
        let s = String(decoding: utf8, as: UTF8.self)
        guard let tli = UInt32(s.prefix(8), radix: 16),
              let log = UInt32(s.dropFirst(8).prefix(8), radix: 16),
              let seg = UInt32(s.suffix(8), radix: 16), tli != 0
        else { return nil }
        self.init(timeline: TimelineID(tli), log: log, seg: seg)
    }

    public var description: String { timeline.hex + hex8(log) + hex8(seg) }

    /// The segment number for a given segment size, or nil when `seg` is impossible for it.
    public func segmentNumber(size: WALSegmentSize) -> SegmentNumber? {
        let perID = size.segmentsPerXLogID
        guard UInt64(seg) < perID else { return nil }
        return UInt64(log) * perID + UInt64(seg)
    }

    /// The first LSN of this segment.
    public func startLSN(size: WALSegmentSize) -> LSN? {
        segmentNumber(size: size).map { LSN.start(of: $0, size: size) }
    }

    /// The `log` part as it names the archive directory that groups 4 GiB of WAL.
    public var directoryName: String { timeline.hex + hex8(log) }

    public static func < (lhs: WALSegmentName, rhs: WALSegmentName) -> Bool {
        (lhs.timeline, lhs.log, lhs.seg) < (rhs.timeline, rhs.log, rhs.seg)
    }
}

/// Every kind of file PostgreSQL hands to `archive_command`.
public enum WALFileName: Hashable, Sendable, CustomStringConvertible {
    /// `TTTTTTTTXXXXXXXXYYYYYYYY` — a full segment.
    case segment(WALSegmentName)
    /// `TTTTTTTT.history` — a timeline history file. Timeline 1 never has one, but recovery
    /// asks for `00000001.history` after a promotion, so the name must parse (and be "absent").
    case history(TimelineID)
    /// `<segment>.<8 hex>.backup` — a backup history file; the hex is the start offset.
    case backupHistory(WALSegmentName, offset: UInt32)
    /// `<segment>.partial` — the incomplete last segment of an old timeline.
    case partial(WALSegmentName)

    /// Parses a bare file name (no directory). Returns nil for anything PostgreSQL would not archive.
    public init?(_ name: some StringProtocol) {
        let text = String(name)
        if let segment = WALSegmentName(text) {
            self = .segment(segment)
            return
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        switch parts.count {
        case 2 where parts[1] == "history":
            guard parts[0].utf8.count == 8, parts[0].utf8.allSatisfy(isUpperHex),
                  let tli = UInt32(parts[0], radix: 16), tli > 0 else { return nil }
            self = .history(TimelineID(tli))
        case 2 where parts[1] == "partial":
            guard let segment = WALSegmentName(parts[0]) else { return nil }
            self = .partial(segment)
        case 3 where parts[2] == "backup":
            guard let segment = WALSegmentName(parts[0]), parts[1].utf8.count == 8,
                  parts[1].utf8.allSatisfy(isUpperHex), let offset = UInt32(parts[1], radix: 16)
            else { return nil }
            self = .backupHistory(segment, offset: offset)
        default:
            return nil
        }
    }

    public var description: String {
        switch self {
        case .segment(let s): return s.description
        case .history(let tli): return tli.hex + ".history"
        case .backupHistory(let s, let offset): return s.description + "." + hex8(offset) + ".backup"
        case .partial(let s): return s.description + ".partial"
        }
    }

    /// The timeline the file belongs to.
    public var timeline: TimelineID {
        switch self {
        case .segment(let s), .backupHistory(let s, _), .partial(let s): return s.timeline
        case .history(let tli): return tli
        }
    }

    /// The segment this file is tied to, if any.
    public var segment: WALSegmentName? {
        switch self {
        case .segment(let s), .backupHistory(let s, _), .partial(let s): return s
        case .history: return nil
        }
    }
}

@inline(__always)
func isUpperHex(_ c: UInt8) -> Bool {
    (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F"))
}
