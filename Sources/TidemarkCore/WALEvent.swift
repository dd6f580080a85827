/// PostgreSQL's `TimestampTz`: microseconds since 2000-01-01 00:00:00 UTC.
public typealias WALTimestamp = Int64

/// Seconds between the Unix epoch and PostgreSQL's epoch (2000-01-01 UTC).
public let postgresEpochUnixSeconds: Int64 = 946_684_800

/// A transaction's end as recorded in WAL: what `recovery_target_time` / `_xid` compare.
public struct WALTransactionEnd: Hashable, Sendable {
    /// Where the commit/abort record starts.
    public var lsn: LSN
    /// Where it ends (the first byte after it, page headers included).
    public var endLSN: LSN
    /// The transaction id: `xl_xid`, or for COMMIT/ABORT PREPARED the prepared transaction's xid.
    public var xid: UInt32
    /// `xact_time`.
    public var time: WALTimestamp
    /// COMMIT PREPARED / ABORT PREPARED.
    public var isPrepared: Bool
    /// The prepared transaction's GID when the record carries it.
    public var gid: String?

    public init(lsn: LSN, endLSN: LSN, xid: UInt32, time: WALTimestamp, isPrepared: Bool = false, gid: String? = nil) {
        self.lsn = lsn
        self.endLSN = endLSN
        self.xid = xid
        self.time = time
        self.isPrepared = isPrepared
        self.gid = gid
    }
}

/// `pg_create_restore_point(name)`.
public struct WALRestorePointRecord: Hashable, Sendable {
    public var lsn: LSN
    public var name: String
    public var time: WALTimestamp

    public init(lsn: LSN, name: String, time: WALTimestamp) {
        self.lsn = lsn
        self.name = name
        self.time = time
    }
}

/// A checkpoint record.
public struct WALCheckpoint: Hashable, Sendable {
    public var lsn: LSN
    /// Where replay from this checkpoint starts.
    public var redo: LSN
    public var timeline: TimelineID
    public var previousTimeline: TimelineID
    /// `pg_time_t`: **seconds** since the Unix epoch (not a `TimestampTz`).
    public var time: Int64
    /// CHECKPOINT_SHUTDOWN (true) or CHECKPOINT_ONLINE (false).
    public var isShutdown: Bool

    public init(lsn: LSN, redo: LSN, timeline: TimelineID, previousTimeline: TimelineID, time: Int64, isShutdown: Bool) {
        self.lsn = lsn
        self.redo = redo
        self.timeline = timeline
        self.previousTimeline = previousTimeline
        self.time = time
        self.isShutdown = isShutdown
    }
}

/// END_OF_RECOVERY, written on fast promotion.
public struct WALEndOfRecovery: Hashable, Sendable {
    public var lsn: LSN
    public var time: WALTimestamp
    public var timeline: TimelineID
    public var previousTimeline: TimelineID

    public init(lsn: LSN, time: WALTimestamp, timeline: TimelineID, previousTimeline: TimelineID) {
        self.lsn = lsn
        self.time = time
        self.timeline = timeline
        self.previousTimeline = previousTimeline
    }
}

/// A record a PITR tool cares about.
public enum WALEvent: Hashable, Sendable {
    case commit(WALTransactionEnd)
    case abort(WALTransactionEnd)
    case restorePoint(WALRestorePointRecord)
    case checkpoint(WALCheckpoint)
    case endOfRecovery(WALEndOfRecovery)
    /// XLOG SWITCH: the rest of the segment is unused.
    case segmentSwitch(lsn: LSN)
    /// BACKUP_END of a backup taken on a primary that started at `startLSN`.
    case backupEnd(lsn: LSN, startLSN: LSN)

    /// Where the record starts.
    public var lsn: LSN {
        switch self {
        case .commit(let t), .abort(let t): return t.lsn
        case .restorePoint(let r): return r.lsn
        case .checkpoint(let c): return c.lsn
        case .endOfRecovery(let e): return e.lsn
        case .segmentSwitch(let lsn), .backupEnd(let lsn, _): return lsn
        }
    }

    /// The commit or abort, when this is one.
    public var transactionEnd: WALTransactionEnd? {
        switch self {
        case .commit(let t), .abort(let t): return t
        default: return nil
        }
    }
}

extension WALEvent {
    /// Decodes the events of one complete record (header + body), CRC not checked here.
    ///
    /// Returns zero or one event: only Transaction commits/aborts and a few XLOG records carry
    /// one. Throws when `xl_tot_len` and the fragment headers disagree or a payload is shorter
    /// than its declared parts.
    public static func decode(record: UnsafeRawBufferPointer, lsn: LSN, endLSN: LSN, pageMagic: UInt16)
        throws(WALMalformedRecord) -> [WALEvent]
    {
        let layout = try WALRecordLayout(record: record, pageMagic: pageMagic, collectBlocks: false)
        return try decode(layout: layout, record: record, lsn: lsn, endLSN: endLSN).map { [$0] } ?? []
    }

    static func decode(layout: WALRecordLayout, record: UnsafeRawBufferPointer, lsn: LSN, endLSN: LSN)
        throws(WALMalformedRecord) -> WALEvent?
    {
        let header = layout.header
        switch header.resourceManager {
        case 0: return try decodeXLOG(info: header.info & 0xF0, main: UnsafeRawBufferPointer(rebasing: record[layout.mainData]), lsn: lsn)
        case 1: return try decodeTransaction(header: header, main: UnsafeRawBufferPointer(rebasing: record[layout.mainData]), lsn: lsn, endLSN: endLSN)
        default: return nil
        }
    }

    private static func decodeXLOG(info: UInt8, main: UnsafeRawBufferPointer, lsn: LSN) throws(WALMalformedRecord) -> WALEvent? {
        func need(_ n: Int, _ what: String) throws(WALMalformedRecord) {
            guard main.count >= n else { throw WALMalformedRecord("\(what) main data is \(main.count) bytes, need \(n)") }
        }
        switch info {
        case 0x00, 0x10:
            try need(72, "checkpoint")
            return .checkpoint(WALCheckpoint(
                lsn: lsn, redo: LSN(main.le(0) as UInt64), timeline: TimelineID(main.le(8)),
                previousTimeline: TimelineID(main.le(12)), time: main.le(64), isShutdown: info == 0x00))
        case 0x40:
            return .segmentSwitch(lsn: lsn)
        case 0x50:
            try need(8, "backup end")
            return .backupEnd(lsn: lsn, startLSN: LSN(main.le(0) as UInt64))
        case 0x70:
            try need(8, "restore point")
            let nameBytes = UnsafeRawBufferPointer(rebasing: main[8..<min(main.count, 8 + 64)])
            let end = nameBytes.firstIndex(of: 0) ?? nameBytes.endIndex
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: nameBytes[nameBytes.startIndex..<end]), as: UTF8.self)
            return .restorePoint(WALRestorePointRecord(lsn: lsn, name: name, time: main.le(0)))
        case 0x90:
            try need(16, "end of recovery")
            return .endOfRecovery(WALEndOfRecovery(
                lsn: lsn, time: main.le(0), timeline: TimelineID(main.le(8)), previousTimeline: TimelineID(main.le(12))))
        default:
            return nil
        }
    }

    /// `xl_xact_commit` / `xl_xact_abort` and their optional parts (`ParseCommitRecord`,
    /// `ParseAbortRecord`); aborts carry no invalidation messages.
    private static func decodeTransaction(header: WALRecordHeader, main: UnsafeRawBufferPointer, lsn: LSN, endLSN: LSN)
        throws(WALMalformedRecord) -> WALEvent?
    {
        let op = header.info & 0x70
        let isCommit = op == 0x00 || op == 0x30
        let isPrepared = op == 0x30 || op == 0x40
        guard isCommit || op == 0x20 || op == 0x40 else { return nil }
        let what = isCommit ? "commit" : "abort"
        guard let time: Int64 = main.leIfPresent(0) else {
            throw WALMalformedRecord("\(what) main data is \(main.count) bytes, shorter than xact_time")
        }
        var offset = 8
        var xinfo: UInt32 = 0
        if header.info & 0x80 != 0 {
            guard let value: UInt32 = main.leIfPresent(offset) else { throw WALMalformedRecord("\(what) without xinfo") }
            xinfo = value
            offset += 4
        }
        func skip(_ name: String, _ fixed: Int) throws(WALMalformedRecord) {
            guard offset + fixed <= main.count else { throw WALMalformedRecord("\(what) \(name) runs past the main data") }
            offset += fixed
        }
        func skipArray(_ name: String, elementSize: Int) throws(WALMalformedRecord) {
            guard let n: Int32 = main.leIfPresent(offset), n >= 0 else {
                throw WALMalformedRecord("\(what) \(name) count missing or negative")
            }
            offset += 4
            try skip(name, Int(n) * elementSize)
        }
        if xinfo & 0x01 != 0 { try skip("dbinfo", 8) }
        if xinfo & 0x02 != 0 { try skipArray("subxacts", elementSize: 4) }
        if xinfo & 0x04 != 0 { try skipArray("relfilenodes", elementSize: 12) }
        if xinfo & 0x100 != 0 { try skipArray("dropped stats", elementSize: 12) }
        if isCommit, xinfo & 0x08 != 0 { try skipArray("invalidations", elementSize: 16) }
        var twoPhaseXID: UInt32?
        var gid: String?
        if xinfo & 0x10 != 0 {
            guard let xid: UInt32 = main.leIfPresent(offset) else { throw WALMalformedRecord("\(what) twophase xid missing") }
            twoPhaseXID = xid
            offset += 4
            if xinfo & 0x80 != 0 {
                let rest = UnsafeRawBufferPointer(rebasing: main[offset...])
                guard let nul = rest.firstIndex(of: 0) else { throw WALMalformedRecord("\(what) gid is not terminated") }
                gid = String(decoding: UnsafeRawBufferPointer(rebasing: rest[0..<nul]), as: UTF8.self)
                offset += nul + 1
            }
        }
        if xinfo & 0x20 != 0 { try skip("origin", 16) }
        let xid: UInt32
        if isPrepared {
            guard let twoPhaseXID else { throw WALMalformedRecord("\(what) prepared without a twophase xid") }
            xid = twoPhaseXID
        } else {
            xid = header.xid
        }
        let end = WALTransactionEnd(lsn: lsn, endLSN: endLSN, xid: xid, time: time, isPrepared: isPrepared, gid: gid)
        return isCommit ? .commit(end) : .abort(end)
    }
}
