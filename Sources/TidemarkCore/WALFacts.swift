#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Turns the WAL reader's events into what the planner reads: completions, restore points
/// and the start of a timeline.
package enum WALFacts {
    /// A restore point record is 98 bytes; allow for a page header it may straddle.
    package static let restorePointSpan: UInt64 = 98 + 40

    package static func completions(_ events: [WALEvent]) -> [WALCompletion] {
        events.compactMap { e in
            switch e {
            case .commit(let t):
                return WALCompletion(lsn: t.lsn, end: t.endLSN, xid: t.xid, time: PostgresTimestamp(rawValue: t.time))
            case .abort(let t):
                return WALCompletion(lsn: t.lsn, end: t.endLSN, xid: t.xid, time: PostgresTimestamp(rawValue: t.time), isAbort: true)
            default:
                return nil
            }
        }
    }

    package static func restorePoints(_ events: [WALEvent]) -> [WALRestorePoint] {
        events.compactMap { e in
            guard case .restorePoint(let r) = e else { return nil }
            return WALRestorePoint(name: r.name, lsn: r.lsn, end: LSN(r.lsn.rawValue + restorePointSpan),
                                   time: PostgresTimestamp(rawValue: r.time))
        }
    }

    /// The record that began `timeline`: the end-of-recovery record, or the checkpoint written
    /// at the end of a targeted recovery (its timeline differs from its previous one).
    package static func timelineStart(_ events: [WALEvent], timeline: TimelineID) -> TimelineStart? {
        for e in events {
            switch e {
            case .endOfRecovery(let r) where r.timeline == timeline && r.previousTimeline != timeline:
                return TimelineStart(lsn: r.lsn, time: PostgresTimestamp(rawValue: r.time), timeline: r.timeline, previous: r.previousTimeline)
            case .checkpoint(let c) where c.timeline == timeline && c.previousTimeline != timeline:
                return TimelineStart(lsn: c.lsn, time: PostgresTimestamp(unixSeconds: c.time), timeline: c.timeline, previous: c.previousTimeline)
            default:
                continue
            }
        }
        return nil
    }

    package static func summary(_ scan: WALSegmentScan, extra: [WALEvent] = []) -> SegmentSummary {
        let events = scan.events + extra
        var switched = false
        if case .switchRecord = scan.stopReason { switched = true }
        return SegmentSummary(firstRecordLSN: scan.firstRecordLSN, endLSN: scan.endLSN, completions: completions(events),
                              restorePoints: restorePoints(events), timelineStart: timelineStart(events, timeline: scan.segment.timeline),
                              switched: switched)
    }
}

/// The WAL facts stored in a segment's summary: the planner's `SegmentSummary`, plus the
/// pieces of a record that straddles the segment's start or end so two neighbouring summaries
/// can be joined without reading either segment.
package struct WALSummaryFacts: Codable, Sendable, Equatable {
    package var summary: SegmentSummary
    /// Why the scan stopped, when it did not reach the end of the segment (or a switch).
    package var scanProblem: String?
    package var tail: Tail?
    package var head: Head?

    package struct Tail: Codable, Sendable, Equatable {
        package var lsn: LSN
        package var totalLength: UInt32
        package var presentLength: Int
        package var pageMagic: UInt16
        /// Base64; only when the whole present prefix was kept.
        package var bytes: String?
    }

    package struct Head: Codable, Sendable, Equatable {
        package var remainingLength: UInt32
        package var endLSN: LSN?
        package var bytes: String?
    }

    package init(scan: WALSegmentScan) {
        summary = WALFacts.summary(scan)
        scanProblem = scan.stopReason.isCleanEnd ? nil : scan.stopReason.description
        if let t = scan.incompleteTail {
            tail = Tail(lsn: t.lsn, totalLength: t.totalLength, presentLength: t.presentLength, pageMagic: t.pageMagic,
                        bytes: t.isCompletePrefix ? Data(t.bytes).base64EncodedString() : nil)
        }
        if let h = scan.continuationHead {
            head = Head(remainingLength: h.remainingLength, endLSN: h.endLSN, bytes: h.bytes.map { Data($0).base64EncodedString() })
        }
    }

    /// The events of the record that starts at the end of this segment and ends in `next`.
    package func eventsCrossing(into next: WALSummaryFacts) -> [WALEvent]? {
        guard let tail, let tb = tail.bytes.flatMap({ Data(base64Encoded: $0) }) else { return nil }
        return Self.eventsCrossing(from: WALIncompleteRecord(lsn: tail.lsn, totalLength: tail.totalLength, bytes: Array(tb),
                                                             presentLength: tail.presentLength, pageMagic: tail.pageMagic),
                                   into: next)
    }

    /// The events of the record `tail` begins and `next`'s head completes.
    package static func eventsCrossing(from tail: WALIncompleteRecord, into next: WALSummaryFacts) -> [WALEvent]? {
        guard let head = next.head else { return nil }
        let continuation = WALContinuation(remainingLength: head.remainingLength,
                                           bytes: head.bytes.flatMap { Data(base64Encoded: $0) }.map { Array($0) }, endLSN: head.endLSN)
        return try? tail.joined(with: continuation).events
    }
}
