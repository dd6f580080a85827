/// PostgreSQL's `TimestampTz`: microseconds since 2000-01-01 00:00:00 UTC. Commit records,
/// restore points and `recovery_target_time` all work in it.
public struct PostgresTimestamp: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }

    /// Seconds between the Unix epoch and PostgreSQL's.
    public static let unixOffsetSeconds: Int64 = 946_684_800

    public init(unixMicroseconds: Int64) { rawValue = unixMicroseconds - Self.unixOffsetSeconds * 1_000_000 }
    public init(unixSeconds: Int64) { self.init(unixMicroseconds: unixSeconds * 1_000_000) }
    public var unixMicroseconds: Int64 { rawValue + Self.unixOffsetSeconds * 1_000_000 }
    public var unixSeconds: Double { Double(unixMicroseconds) / 1_000_000 }

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    public func adding(microseconds: Int64) -> Self { Self(rawValue: rawValue + microseconds) }

    /// `2026-11-26 14:30:00.123456+00`: the form `recovery_target_time` accepts before zone
    /// abbreviations are loaded (numeric offset, never `Z`). Trailing zero fractions dropped.
    public var postgresText: String { format(separator: " ", zone: "+00") }

    /// ISO 8601 in UTC with a `Z`, microseconds when non-zero.
    public var iso8601: String { format(separator: "T", zone: "Z") }

    public var description: String { postgresText }

    func format(separator: String, zone: String) -> String {
        let micros = unixMicroseconds
        var seconds = micros / 1_000_000
        var fraction = micros % 1_000_000
        if fraction < 0 { fraction += 1_000_000; seconds -= 1 }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { secondOfDay += 86_400; days -= 1 }
        let (y, m, d) = CivilDate.fromDays(days)
        var text = pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + separator
            + pad(secondOfDay / 3600, 2) + ":" + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
        if fraction != 0 {
            var f = pad(fraction, 6)
            while f.hasSuffix("0") { f.removeLast() }
            text += "." + f
        }
        return text + zone
    }

    func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var text: String
        public var message: String
        public var description: String { "'\(text)' \(message)" }
    }

    /// Parses `YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]]ZONE` where ZONE is `Z`, `UTC`, `±HH`, `±HHMM`
    /// or `±HH:MM` (spaces before it allowed). A time without a zone is an error: guessing the
    /// zone of a recovery target restores the wrong data.
    public init(parsing text: String) throws(ParseError) {
        let bytes = Array(text.utf8)
        var i = 0
        func fail(_ message: String) -> ParseError { ParseError(text: text, message: message) }
        func digits(_ n: Int) -> Int64? {
            guard i + n <= bytes.count else { return nil }
            var v: Int64 = 0
            for k in 0..<n {
                let c = bytes[i + k]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
            }
            i += n
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < bytes.count, bytes[i] == c else { return false }
            i += 1
            return true
        }
        let form = "is not a time like 2026-11-26 14:30:00+00 (date, time and a zone)"
        guard let year = digits(4), expect(45), let month = digits(2), expect(45), let day = digits(2) else { throw fail(form) }
        guard i < bytes.count, bytes[i] == 32 || bytes[i] == 84 || bytes[i] == 116 else { throw fail(form) }
        i += 1
        guard let hour = digits(2), expect(58), let minute = digits(2) else { throw fail(form) }
        var second: Int64 = 0
        var micros: Int64 = 0
        if expect(58) {
            guard let s = digits(2) else { throw fail(form) }
            second = s
            if expect(46) {
                var n = 0
                var f: Int64 = 0
                while i < bytes.count, bytes[i] >= 48 && bytes[i] <= 57 {
                    if n < 6 { f = f * 10 + Int64(bytes[i] - 48) } else if n == 6 && bytes[i] >= 53 { f += 1 }
                    n += 1
                    i += 1
                }
                guard n > 0 else { throw fail(form) }
                if n < 6 { for _ in n..<6 { f *= 10 } }
                micros = f
            }
        }
        guard (1...12).contains(month), day >= 1, day <= CivilDate.daysInMonth(year: year, month: month),
              hour <= 23, minute <= 59, second <= 59 else { throw fail("is not a valid date and time") }
        while i < bytes.count, bytes[i] == 32 { i += 1 }
        guard i < bytes.count else {
            throw fail("has no time zone; add one, e.g. '+00' or 'Z' for UTC or '+01:00' (a time without a zone is never guessed)")
        }
        var offsetSeconds: Int64 = 0
        let rest = String(decoding: bytes[i...], as: UTF8.self)
        if rest == "Z" || rest == "z" || rest == "UTC" || rest == "utc" {
            i = bytes.count
        } else if bytes[i] == 43 || bytes[i] == 45 {
            let sign: Int64 = bytes[i] == 45 ? -1 : 1
            i += 1
            guard let hh = digits(2), hh <= 15 else { throw fail("has a zone offset that is not ±HH, ±HHMM or ±HH:MM") }
            var mm: Int64 = 0
            if i < bytes.count {
                _ = expect(58)
                guard let m = digits(2), m <= 59 else { throw fail("has a zone offset that is not ±HH, ±HHMM or ±HH:MM") }
                mm = m
            }
            offsetSeconds = sign * (hh * 3600 + mm * 60)
        } else {
            throw fail("has zone '\(rest)'; use a numeric offset (+00, -05:00) or Z: zone names are ambiguous")
        }
        guard i == bytes.count else { throw fail(form) }
        let days = CivilDate.toDays(year: year, month: month, day: day)
        let unix = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        self.init(unixMicroseconds: unix * 1_000_000 + micros)
    }
}

/// Proleptic Gregorian calendar arithmetic (Howard Hinnant's days-from-civil).
package enum CivilDate {
    package static func toDays(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    package static func fromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    package static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
