#if canImport(FoundationEssentials)
import FoundationEssentials
#endif
import Foundation

/// What a recovering server's log says about how recovery went (PG-INTERNALS §5.3): the stop
/// line, the last completed transaction, promotion, and the FATAL lines and `wal-fetch`
/// errors (its stderr lands in the server log) that explain a failure. Pure: parses text.
public struct RecoveryLogFacts: Sendable, Equatable {
    public struct Stop: Sendable, Equatable {
        /// `before` or `after`.
        public var position: String
        /// `commit` or `abort`.
        public var verb: String
        public var xid: UInt32
        public var time: PostgresTimestamp?

        package init(position: String, verb: String, xid: UInt32, time: PostgresTimestamp? = nil) {
            self.position = position
            self.verb = verb
            self.xid = xid
            self.time = time
        }
    }

    /// `recovery stopping before commit of transaction 740, time …` (the whole line).
    public var stopLine: String?
    public var stop: Stop?
    /// `last completed transaction was at log time …`.
    public var lastCompletedLine: String?
    public var lastCompletedTime: PostgresTimestamp?
    /// `database system is ready to accept connections` (not the read-only kind): promoted.
    public var ready = false
    /// The startup process died (`aborting startup due to startup process failure`, …).
    public var startupFailed = false
    /// FATAL / PANIC lines other than connection attempts refused while the server starts.
    public var fatalLines: [String] = []
    /// Lines Tidemark's `wal-fetch` wrote (errors and "trying the next repository" notes).
    public var fetchLines: [String] = []
    /// The WAL file named by the first failing fetch (from wal-fetch's error or PostgreSQL's
    /// `could not restore file "…"`).
    public var failedSegment: String?
    /// The repository object named by wal-fetch's error (`…/main/wal/…/<segment>`).
    public var failedObject: String?

    package static let connectionNoise = [
        "the database system is starting up", "not yet accepting connections", "is not accepting connections",
        "the database system is shutting down", "terminating connection due to", "the database system is in recovery mode",
    ]

    public init(parsing log: String) {
        var previous = ""
        for raw in log.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = String(raw)
            defer { previous = line }
            if let r = line.range(of: "recovery stopping ") {
                stopLine = line
                stop = Self.parseStop(String(line[r.upperBound...]))
            }
            if let r = line.range(of: "last completed transaction was at log time ") {
                lastCompletedLine = line
                lastCompletedTime = try? PostgresTimestamp(parsing: String(line[r.upperBound...]).trimmed)
            }
            if line.contains("database system is ready to accept connections") { ready = true }
            if line.contains("aborting startup due to startup process failure") || line.contains("shutting down due to startup process failure") {
                startupFailed = true
            }
            if line.contains("FATAL:") || line.contains("PANIC:") {
                if !Self.connectionNoise.contains(where: { line.contains($0) }) {
                    // The line before often says why ("Unix-domain socket path … is too long").
                    if previous.contains("LOG:") || previous.contains("ERROR:") || previous.contains("WARNING:"),
                       !previous.contains("tidemark"), fatalLines.last != previous {
                        fatalLines.append(previous)
                    }
                    fatalLines.append(line)
                }
                if failedSegment == nil, line.contains("could not restore file"), let name = Self.walName(in: line) {
                    failedSegment = name
                }
            }
            if line.contains("tidemark") && (line.contains("ERROR") || line.contains("damaged") || line.contains("trying")) {
                fetchLines.append(line)
                if line.contains("ERROR") {
                    if let name = Self.walName(in: line) { failedSegment = name }
                    if failedObject == nil { failedObject = Self.objectPath(in: line) }
                }
            }
        }
    }

    /// `before commit of transaction 740, time 2026-11-26 14:30:00.123456+00`
    package static func parseStop(_ text: String) -> Stop? {
        let words = text.split(separator: " ", maxSplits: 5).map(String.init)
        guard words.count >= 5, words[0] == "before" || words[0] == "after", words[1] == "commit" || words[1] == "abort",
              words[2] == "of", words[3] == "transaction" else { return nil }
        var xidText = words[4]
        if xidText.hasSuffix(",") { xidText.removeLast() }
        guard let xid = UInt32(xidText) else { return nil }
        var time: PostgresTimestamp?
        if let r = text.range(of: ", time ") { time = try? PostgresTimestamp(parsing: String(text[r.upperBound...]).trimmed) }
        return Stop(position: words[0], verb: words[1], xid: xid, time: time)
    }

    /// The first WAL segment name (24 hex digits, not part of a longer hex run) in `line`.
    package static func walName(in line: String) -> String? {
        let chars = Array(line)
        var i = 0
        while i < chars.count {
            guard chars[i].isHexDigit else { i += 1; continue }
            var j = i
            while j < chars.count, chars[j].isHexDigit { j += 1 }
            if j - i == 24 { return String(chars[i..<j]).uppercased() }
            i = j
        }
        return nil
    }

    /// A quoted path holding `/wal/` (the object wal-fetch could not use).
    package static func objectPath(in line: String) -> String? {
        for piece in line.split(separator: "'", omittingEmptySubsequences: false) where piece.contains("/wal/") && !piece.contains(" ") {
            return String(piece)
        }
        return nil
    }
}

extension String {
    package var trimmed: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return String(s)
    }
}

/// An operator's SQL check (`--check-sql FILE`, docs/rehearsal.md):
///
///     -- name: orders by yesterday
///     -- database: shop
///     select count(*) from orders where created < current_date;
///     -- expect: 1234
///
/// `-- expect:` lines (repeatable, one per output line) give the exact output of
/// `psql -XAtq -f` (fields separated by `|`); without any, the check passes when the SQL runs
/// without error. `-- database:` defaults to `postgres`.
public struct RehearsalCheck: Sendable, Equatable, Codable {
    public var name: String
    public var database: String
    public var sql: String
    public var expected: String?

    public init(name: String, database: String = "postgres", sql: String, expected: String? = nil) {
        self.name = name
        self.database = database
        self.sql = sql
        self.expected = expected
    }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Parses a check file; blocks start at `-- name:`.
    public static func parse(_ text: String) throws(ParseError) -> [RehearsalCheck] {
        var checks: [RehearsalCheck] = []
        var current: (name: String, database: String, sql: [String], expect: [String], line: Int)?
        func finish() throws(ParseError) {
            guard let c = current else { return }
            var lines = c.sql
            while let l = lines.last, l.trimmed.isEmpty { lines.removeLast() }
            while let f = lines.first, f.trimmed.isEmpty { lines.removeFirst() }
            let sql = lines.joined(separator: "\n")
            guard !sql.replacingNewlines.isEmpty else { throw ParseError(line: c.line, message: "check '\(c.name)' has no SQL") }
            checks.append(RehearsalCheck(name: c.name, database: c.database, sql: sql,
                                         expected: c.expect.isEmpty ? nil : c.expect.joined(separator: "\n")))
            current = nil
        }
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw)
            let n = index + 1
            if let value = directive(line, "name") {
                try finish()
                guard !value.isEmpty else { throw ParseError(line: n, message: "'-- name:' needs a name") }
                guard !checks.contains(where: { $0.name == value }) else { throw ParseError(line: n, message: "a second check named '\(value)'") }
                current = (value, "postgres", [], [], n)
                continue
            }
            guard current != nil else {
                let t = line.trimmed
                if t.isEmpty || t.hasPrefix("--") { continue }
                throw ParseError(line: n, message: "SQL before the first '-- name:' line")
            }
            if let value = directive(line, "database") {
                guard !value.isEmpty else { throw ParseError(line: n, message: "'-- database:' needs a database name") }
                current?.database = value
            } else if let value = directive(line, "expect") {
                current?.expect.append(value)
            } else {
                current?.sql.append(line)
            }
        }
        try finish()
        return checks
    }

    /// The value of `-- key: value` (spaces around it trimmed), or nil.
    package static func directive(_ line: String, _ key: String) -> String? {
        var s = Substring(line.trimmed)
        guard s.hasPrefix("--") else { return nil }
        s = s.dropFirst(2)
        while s.first == " " { s.removeFirst() }
        guard s.hasPrefix(key + ":") else { return nil }
        return String(s.dropFirst(key.count + 1)).trimmed
    }
}

extension String {
    package var replacingNewlines: String { split(whereSeparator: { $0 == "\n" || $0 == " " || $0 == "\t" }).joined() }
}

/// SplitMix64: small, seedable, good enough to pick a backup and an instant, and the seed in
/// the report replays the choice.
public struct RehearsalRandom: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The recoverable window of a backup: from one second after its recorded stop time (which
/// has one-second resolution, so the consistency point may lie up to a second later) to just
/// before the last archived commit (a time target needs a commit after it, §5.3).
public struct RecoverableWindow: Sendable, Equatable {
    public var from: PostgresTimestamp
    /// Exclusive.
    public var until: PostgresTimestamp

    public init?(backupStop: PostgresTimestamp, lastCommit: PostgresTimestamp) {
        let from = PostgresTimestamp(rawValue: (backupStop.rawValue / 1_000_000 + 1) * 1_000_000)
        guard lastCommit.rawValue - from.rawValue >= 1 else { return nil }
        self.from = from
        until = lastCommit
    }

    /// A uniformly random instant in `[from, until)`.
    public func randomInstant(using generator: inout some RandomNumberGenerator) -> PostgresTimestamp {
        from.adding(microseconds: Int64.random(in: 0..<(until.rawValue - from.rawValue), using: &generator))
    }

    package init(from: PostgresTimestamp, until: PostgresTimestamp) {
        self.from = from
        self.until = until
    }
}
