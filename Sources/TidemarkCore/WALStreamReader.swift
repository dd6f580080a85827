/// Reads consecutive segments of one WAL stream, carrying a record that crosses a segment
/// boundary (and the `xl_prev` chain) from one segment to the next.
///
/// A record that starts in segment N and ends in N+1 is reported in N+1's scan: its event comes
/// first in `events` and it counts in N+1's `recordCount`. Feeding a segment that does not
/// follow the previous one (or after a scan that did not end cleanly) starts afresh.
public struct WALStreamReader: Sendable {
    public let size: WALSegmentSize
    private var expectedSegment: SegmentNumber?
    private var previousRecord: LSN?
    private var pending: WALPendingRecord?

    public init(size: WALSegmentSize) { self.size = size }

    /// Scans the next segment of the stream.
    public mutating func scan(_ bytes: UnsafeRawBufferPointer, name: WALSegmentName) -> WALSegmentScan {
        let segment = name.segmentNumber(size: size)
        if segment == nil || segment != expectedSegment {
            previousRecord = nil
            pending = nil
        }
        var walker = WALSegmentWalker(
            bytes: bytes, name: name, size: size, previous: previousRecord, carriedIn: pending, keepWholeTail: true)
        walker.run()
        let result = walker.scan
        if result.stopReason.isCleanEnd, let segment {
            expectedSegment = segment + 1
            previousRecord = walker.previous
            pending = result.stopReason == .endOfSegment ? walker.carriedOut : nil
            // XLOG SWITCH: the next segment starts with a fresh record whose xl_prev is the switch.
        } else {
            expectedSegment = nil
            previousRecord = nil
            pending = nil
        }
        return result
    }

    /// `scan(_:name:)` over an array.
    public mutating func scan(_ bytes: [UInt8], name: WALSegmentName) -> WALSegmentScan {
        bytes.withUnsafeBytes { scan($0, name: name) }
    }
}

/// A record put together from one segment's `incompleteTail` and the next one's
/// `continuationHead`.
public struct WALJoinedRecord: Hashable, Sendable {
    public var lsn: LSN
    public var endLSN: LSN
    public var header: WALRecordHeader
    /// The whole record (header + body).
    public var bytes: [UInt8]
    public var events: [WALEvent]
}

/// Why a tail and a head could not be joined.
public enum WALJoinError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The tail kept only its first bytes (the record is longer than the kept limit).
    case tailNotKept
    /// The head's bytes were not kept, or the record does not end in the next segment.
    case headNotKept
    /// The head continues a different amount than the tail is missing.
    case lengthMismatch(missing: Int, continued: Int)
    case crcMismatch(LSN)
    case malformed(LSN, String)

    public var description: String {
        switch self {
        case .tailNotKept: return "the record's start was not kept whole"
        case .headNotKept: return "the record's continuation was not kept or does not end in the next segment"
        case .lengthMismatch(let m, let c): return "the tail misses \(m) bytes but the next segment continues \(c)"
        case .crcMismatch(let lsn): return "CRC mismatch in the joined record at \(lsn)"
        case .malformed(let lsn, let why): return "joined record at \(lsn) is malformed: \(why)"
        }
    }
}

extension WALIncompleteRecord {
    /// Completes this record with the next segment's continuation, verifies the CRC and decodes
    /// its events: a planner holding only per-segment summaries still sees a commit that
    /// straddles two segments.
    public func joined(with head: WALContinuation) throws(WALJoinError) -> WALJoinedRecord {
        guard isCompletePrefix else { throw .tailNotKept }
        guard let continuation = head.bytes, let endLSN = head.endLSN else { throw .headNotKept }
        guard missingLength == Int(head.remainingLength), continuation.count == missingLength else {
            throw .lengthMismatch(missing: missingLength, continued: Int(head.remainingLength))
        }
        let record = bytes + continuation
        let result = record.withUnsafeBytes { (buffer) -> Result<WALJoinedRecord, WALJoinError> in
            guard let header = WALRecordHeader(buffer) else { return .failure(.malformed(lsn, "record shorter than its header")) }
            guard walRecordCRCMatches(buffer) else { return .failure(.crcMismatch(lsn)) }
            do throws(WALMalformedRecord) {
                let events = try WALEvent.decode(record: buffer, lsn: lsn, endLSN: endLSN, pageMagic: pageMagic)
                return .success(WALJoinedRecord(lsn: lsn, endLSN: endLSN, header: header, bytes: record, events: events))
            } catch {
                return .failure(.malformed(lsn, error.reason))
            }
        }
        return try result.get()
    }
}

extension WALSegmentScan {
    /// The events of the record that starts at the end of `self` and ends at the start of
    /// `next` (the following segment); empty when no record crosses the boundary.
    public func eventsCrossingBoundary(into next: WALSegmentScan) throws(WALJoinError) -> [WALEvent] {
        guard let tail = incompleteTail else { return [] }
        guard let head = next.continuationHead else { throw .headNotKept }
        return try tail.joined(with: head).events
    }
}
