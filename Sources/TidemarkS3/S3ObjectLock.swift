/// S3 Object Lock retention for every object the store writes: each PUT and each
/// CreateMultipartUpload carries `x-amz-object-lock-mode` and
/// `x-amz-object-lock-retain-until-date` (now + `days`), so until that date no one holding the
/// host's credentials can remove or change the version written (docs/ransomware.md). The bucket
/// must have been created with Object Lock enabled; S3 refuses the headers otherwise.
public struct S3ObjectLock: Sendable, Hashable {
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// A principal allowed `s3:BypassGovernanceRetention` may shorten or remove the lock.
        case governance = "GOVERNANCE"
        /// Nobody, not even the account's root user, can shorten or remove it.
        case compliance = "COMPLIANCE"
    }

    public var mode: Mode
    /// Days from the write until the version may be removed, `allowedDays` (1...36500).
    public var days: Int

    public static let allowedDays = 1...36_500

    public init(mode: Mode, days: Int) {
        self.mode = mode
        self.days = days
    }

    /// The retain-until instant of an object written at `now` (seconds since the epoch).
    public func retainUntil(writtenAt now: Int64) -> Int64 { now + Int64(days) * 86_400 }

    /// The two request headers for an object written at `now`.
    func headers(now: Int64) -> [(String, String)] {
        [("x-amz-object-lock-mode", mode.rawValue),
         ("x-amz-object-lock-retain-until-date", S3Date.iso8601(unixSeconds: retainUntil(writtenAt: now)))]
    }
}

/// The dates S3 exchanges in Object Lock headers: ISO 8601 in UTC.
enum S3Date {
    /// `2026-12-09T03:00:00Z` for a Unix time in seconds.
    static func iso8601(unixSeconds: Int64) -> String {
        let c = civil(unixSeconds: unixSeconds)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(c.year)-\(two(c.month))-\(two(c.day))T\(two(c.hour)):\(two(c.minute)):\(two(c.second))Z"
    }

    /// Seconds since the epoch of `2026-12-09T03:00:00Z`, `2026-12-09T03:00:00.000Z` or the same
    /// with a `+hh:mm`/`-hh:mm` offset; nil for anything else. Fractions of a second round up:
    /// the answer is never earlier than the date the store holds.
    static func parseISO8601(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int64? {
            guard from + count <= b.count else { return nil }
            var v: Int64 = 0
            for i in from..<(from + count) {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int64(b[i] - 48)
            }
            return v
        }
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 116, b[13] == 58, b[16] == 58,
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var i = 19
        var fraction = false
        if b[i] == 46 {
            i += 1
            let start = i
            while i < b.count, b[i] >= 48 && b[i] <= 57 {
                if b[i] != 48 { fraction = true }
                i += 1
            }
            guard i > start else { return nil }
        }
        guard i < b.count else { return nil }
        var offset: Int64 = 0
        switch b[i] {
        case 90, 122:
            guard i + 1 == b.count else { return nil }
        case 43, 45:
            guard i + 6 == b.count, b[i + 3] == 58, let h = number(i + 1, 2), let m = number(i + 4, 2), h < 24, m < 60 else { return nil }
            offset = (h * 3600 + m * 60) * (b[i] == 43 ? 1 : -1)
        default:
            return nil
        }
        let seconds = daysFromCivil(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
        return seconds - offset + (fraction ? 1 : 0)
    }

    struct Civil {
        var year, month, day, hour, minute, second: Int64
    }

    /// The UTC calendar fields of a Unix time (Howard Hinnant's civil_from_days).
    static func civil(unixSeconds: Int64) -> Civil {
        let days = unixSeconds >= 0 ? unixSeconds / 86_400 : (unixSeconds - 86_399) / 86_400
        let secs = unixSeconds - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return Civil(year: y, month: m, day: d, hour: secs / 3600, minute: secs % 3600 / 60, second: secs % 60)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
