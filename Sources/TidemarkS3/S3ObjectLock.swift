import TidemarkCore

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

/// The dates S3 exchanges in Object Lock headers: ISO 8601 in UTC, through Core's
/// `PostgresTimestamp` (one calendar implementation for the whole package).
enum S3Date {
    /// `2026-12-09T03:00:00Z` for a Unix time in seconds.
    static func iso8601(unixSeconds: Int64) -> String { PostgresTimestamp(unixSeconds: unixSeconds).iso8601 }

    /// Seconds since the epoch of `2026-12-09T03:00:00Z`, `2026-12-09T03:00:00.000Z` or the same
    /// with a `+hh:mm`/`-hh:mm` offset; nil for anything else. Fractions of a second round up:
    /// the answer is never earlier than the date the store holds.
    static func parseISO8601(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        // S3's form only: a `T` between date and time, and seconds (PostgresTimestamp takes more).
        guard b.count >= 20, b[10] == 84 || b[10] == 116, b[16] == 58,
              let t = try? PostgresTimestamp(parsing: text) else { return nil }
        let (seconds, micros) = t.unixMicroseconds.quotientAndRemainder(dividingBy: 1_000_000)
        return micros > 0 ? seconds + 1 : seconds
    }
}
