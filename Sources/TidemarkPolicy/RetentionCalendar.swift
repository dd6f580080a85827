#if canImport(FoundationEssentials)
import FoundationEssentials
#endif
import Foundation

/// The calendar buckets of retention: a day, an ISO week, a month or a year in one time zone.
public struct RetentionCalendar: Sendable {
    public enum Tier: String, Sendable, CaseIterable, Codable {
        case daily, weekly, monthly, yearly
    }

    let calendar: Calendar

    /// Whether `RetentionCalendar(timeZone:)` succeeds, without building the calendar (every
    /// configuration load checks the retention settings; wal-push must not pay for a calendar).
    public static func knows(timeZone identifier: String?) -> Bool {
        guard let identifier else { return true }
        return TimeZone(identifier: identifier) != nil
    }

    /// nil when `timeZone` names no zone this system knows.
    public init?(timeZone identifier: String?) {
        let zone: TimeZone
        if let identifier {
            guard let z = TimeZone(identifier: identifier) else { return nil }
            zone = z
        } else {
            guard let utc = TimeZone(identifier: "UTC") else { return nil }
            zone = utc
        }
        // ISO 8601: weeks start on Monday, week 1 holds the year's first Thursday.
        var c = Calendar(identifier: .iso8601)
        c.timeZone = zone
        c.firstWeekday = 2
        c.minimumDaysInFirstWeek = 4
        calendar = c
    }

    /// The bucket `seconds` (since the epoch) falls in: "2026-11-30", "2026-W48", "2026-11", "2026".
    public func bucket(_ tier: Tier, of seconds: Int64) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(seconds))
        switch tier {
        case .daily:
            let c = calendar.dateComponents([.year, .month, .day], from: date)
            return "\(pad(c.year ?? 0, 4))-\(pad(c.month ?? 0, 2))-\(pad(c.day ?? 0, 2))"
        case .weekly:
            let c = calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
            return "\(pad(c.yearForWeekOfYear ?? 0, 4))-W\(pad(c.weekOfYear ?? 0, 2))"
        case .monthly:
            let c = calendar.dateComponents([.year, .month], from: date)
            return "\(pad(c.year ?? 0, 4))-\(pad(c.month ?? 0, 2))"
        case .yearly:
            return pad(calendar.component(.year, from: date), 4)
        }
    }

    /// The newest of `items` (oldest first) in each of the `count` most recent buckets of
    /// `tier` that hold one, newest first, with its bucket: what a calendar tier keeps.
    public func newestPerBucket<T>(_ tier: Tier, count: Int, of items: [T], time: (T) -> Int64) -> [(item: T, bucket: String)] {
        var seen: Set<String> = []
        var out: [(item: T, bucket: String)] = []
        for item in items.reversed() {
            let bucket = self.bucket(tier, of: time(item))
            guard !seen.contains(bucket) else { continue }
            guard seen.count < count else { break }
            seen.insert(bucket)
            out.append((item, bucket))
        }
        return out
    }

    func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}
