/// A parsed backup history file, `<segment>.<offset>.backup` (PG-INTERNALS §1.4): what
/// `do_pg_backup_stop` writes when a backup taken on a primary ends.
///
/// PostgreSQL 12–17 write, one per line: `START WAL LOCATION: X/X (file <24>)`,
/// `STOP WAL LOCATION: X/X (file <24>)`, `CHECKPOINT LOCATION: X/X`, `BACKUP METHOD: …`,
/// `BACKUP FROM: …`, `START TIME: …`, `LABEL: …`, `START TIMELINE: N` and (17, incremental
/// backups) `INCREMENTAL FROM LSN` / `INCREMENTAL FROM TLI`, then `STOP TIME: …` and
/// `STOP TIMELINE: N`. The parser wants every line PostgreSQL 12 already wrote, and checks that
/// the locations agree with one another and with the file's name; a line it does not know is
/// accepted when it reads `UPPER CASE KEY: value` (a later version's addition), and any line
/// right after `LABEL:` is taken as part of the label (a label may hold a line break).
public struct BackupHistoryFile: Hashable, Sendable {
    public var startLSN: LSN
    public var startFile: WALSegmentName
    public var stopLSN: LSN
    public var stopFile: WALSegmentName
    public var checkpointLSN: LSN
    public var startTimeline: TimelineID
    public var stopTimeline: TimelineID
    public var label: String
    public var startTime: String
    public var stopTime: String

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    static let required = ["START WAL LOCATION", "STOP WAL LOCATION", "CHECKPOINT LOCATION", "BACKUP METHOD", "BACKUP FROM",
                           "START TIME", "LABEL", "START TIMELINE", "STOP TIME", "STOP TIMELINE"]

    /// Parses `bytes` as the backup history file named `segment.offset.backup`.
    public init(segment: WALSegmentName, offset: UInt32, parsing bytes: some Collection<UInt8>) throws(ParseError) {
        guard !bytes.isEmpty else { throw ParseError(message: "the file is empty") }
        guard !bytes.contains(0) else { throw ParseError(message: "the file holds NUL bytes, so it is not a text file") }
        let text = String(decoding: bytes, as: UTF8.self)
        var fields: [String: String] = [:]
        var previousKey: String?
        var lineNumber = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = raw.last == "\r" ? raw.dropLast() : raw
            if line.isEmpty { continue }
            guard let colon = Self.separator(in: line), Self.isKey(line[..<colon]) else {
                if previousKey == "LABEL" || previousKey == "LABEL+" {
                    previousKey = "LABEL+"
                    continue
                }
                if lineNumber == 1 { throw ParseError(message: "line 1 is not 'START WAL LOCATION: X/X (file …)': '\(Self.clip(line))'") }
                throw ParseError(message: "line \(lineNumber) is not 'KEY: value': '\(Self.clip(line))'")
            }
            let key = String(line[..<colon])
            let value = String(line[line.index(colon, offsetBy: 2)...])
            if lineNumber == 1, key != "START WAL LOCATION" {
                throw ParseError(message: "line 1 is not 'START WAL LOCATION: X/X (file …)': '\(Self.clip(line))'")
            }
            guard fields[key] == nil else { throw ParseError(message: "'\(key)' appears twice (line \(lineNumber))") }
            fields[key] = value
            previousKey = key
        }
        for key in Self.required where fields[key] == nil {
            throw ParseError(message: "the '\(key):' line is missing")
        }
        func value(_ key: String) -> String { fields[key] ?? "" }
        (startLSN, startFile) = try Self.location(value("START WAL LOCATION"), key: "START WAL LOCATION")
        (stopLSN, stopFile) = try Self.location(value("STOP WAL LOCATION"), key: "STOP WAL LOCATION")
        guard let checkpoint = LSN(value("CHECKPOINT LOCATION")) else {
            throw ParseError(message: "CHECKPOINT LOCATION '\(Self.clip(value("CHECKPOINT LOCATION")))' is not a WAL location")
        }
        checkpointLSN = checkpoint
        startTimeline = try Self.timeline(value("START TIMELINE"), key: "START TIMELINE")
        stopTimeline = try Self.timeline(value("STOP TIMELINE"), key: "STOP TIMELINE")
        label = value("LABEL")
        startTime = value("START TIME")
        stopTime = value("STOP TIME")
        for key in ["BACKUP METHOD", "BACKUP FROM"] where value(key).isEmpty {
            throw ParseError(message: "'\(key):' has no value")
        }
        for key in ["START TIME", "STOP TIME"] where !Self.looksLikeTime(value(key)) {
            throw ParseError(message: "\(key) '\(Self.clip(value(key)))' is not a time")
        }
        try checkConsistency(segment: segment, offset: offset)
    }

    /// The locations must agree with each other and with the name PostgreSQL gave the file:
    /// `BackupHistoryFileName(stop timeline, start segment, start offset)`.
    func checkConsistency(segment: WALSegmentName, offset: UInt32) throws(ParseError) {
        guard startLSN <= checkpointLSN, checkpointLSN <= stopLSN else {
            throw ParseError(message: "the locations are out of order: start \(startLSN), checkpoint \(checkpointLSN), stop \(stopLSN)")
        }
        guard startTimeline <= stopTimeline else {
            throw ParseError(message: "START TIMELINE \(startTimeline) is after STOP TIMELINE \(stopTimeline)")
        }
        guard startFile.timeline == startTimeline, stopFile.timeline == stopTimeline else {
            throw ParseError(message: "the files \(startFile) and \(stopFile) are not on timelines \(startTimeline) and \(stopTimeline)")
        }
        guard segment.timeline == stopTimeline, segment.log == startFile.log, segment.seg == startFile.seg else {
            throw ParseError(message: "it describes a backup that started in \(startFile) and stopped on timeline \(stopTimeline), "
                                 + "which is not the backup its name (\(segment)) says")
        }
        // Some wal_segment_size must place both locations in their files and give the offset.
        var size = WALSegmentSize.minimum
        while size <= WALSegmentSize.maximum {
            if let s = WALSegmentSize(rawValue: size), Self.holds(startFile, startLSN, s), Self.holds(stopFile, stopLSN, s),
               startLSN.rawValue - (startFile.startLSN(size: s)?.rawValue ?? 0) == UInt64(offset) {
                return
            }
            size <<= 1
        }
        throw ParseError(message: "START WAL LOCATION \(startLSN) (file \(startFile)), STOP WAL LOCATION \(stopLSN) (file \(stopFile)) "
                             + "and the offset \(hex8(offset)) in the name do not agree for any WAL segment size")
    }

    static func holds(_ file: WALSegmentName, _ lsn: LSN, _ size: WALSegmentSize) -> Bool {
        guard let start = file.startLSN(size: size) else { return false }
        return lsn >= start && lsn.rawValue - start.rawValue < size.rawValue
    }

    /// `X/X (file <24 hex>)`.
    static func location(_ text: String, key: String) throws(ParseError) -> (LSN, WALSegmentName) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, let lsn = LSN(parts[0]), parts[1] == "(file", parts[2].hasSuffix(")"),
              let file = WALSegmentName(parts[2].dropLast()) else {
            throw ParseError(message: "\(key) '\(clip(text))' is not 'X/X (file <segment>)'")
        }
        return (lsn, file)
    }

    static func timeline(_ text: String, key: String) throws(ParseError) -> TimelineID {
        guard let n = UInt32(text), n >= 1 else { throw ParseError(message: "\(key) '\(clip(text))' is not a timeline") }
        return TimelineID(n)
    }

    /// `%Y-%m-%d %H:%M:%S` and a zone (`%Z`, which may be empty).
    static func looksLikeTime(_ text: String) -> Bool {
        let u = Array(text.utf8)
        guard u.count >= 19 else { return false }
        let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
        return digits.allSatisfy { u[$0] >= UInt8(ascii: "0") && u[$0] <= UInt8(ascii: "9") }
            && u[4] == UInt8(ascii: "-") && u[7] == UInt8(ascii: "-") && u[10] == UInt8(ascii: " ")
            && u[13] == UInt8(ascii: ":") && u[16] == UInt8(ascii: ":")
    }

    /// Where the first ": " begins.
    static func separator(in line: Substring) -> Substring.Index? {
        var i = line.startIndex
        while i < line.endIndex {
            let next = line.index(after: i)
            if line[i] == ":", next < line.endIndex, line[next] == " " { return i }
            i = next
        }
        return nil
    }

    static func isKey(_ s: Substring) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) || $0 == UInt8(ascii: " ") }
    }

    static func clip(_ s: some StringProtocol) -> String {
        let printable = String(s.unicodeScalars.map { $0.value >= 0x20 && $0.value != 0x7F ? Character($0) : "?" })
        return printable.count > 60 ? String(printable.prefix(60)) + "…" : printable
    }
}
