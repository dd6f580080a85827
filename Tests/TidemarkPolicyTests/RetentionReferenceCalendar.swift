#if canImport(FoundationEssentials)
import FoundationEssentials
#endif
import Foundation
import TidemarkPolicy

/// The calendar buckets computed the long way, to compare with `RetentionCalendar`: the zone's
/// offset from `TimeZone.secondsFromGMT(for:)`, then civil-date arithmetic on the local day
/// number (Howard Hinnant's `civil_from_days`), and ISO weeks from the week's Thursday.
struct ReferenceCalendar {
    let zone: TimeZone

    init?(timeZone identifier: String?) {
        guard let zone = TimeZone(identifier: identifier ?? "UTC") else { return nil }
        self.zone = zone
    }

    /// Days since 1970-01-01 in local time.
    func localDay(_ seconds: Int64) -> Int64 {
        let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(seconds))))
        let local = seconds + offset
        return local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
    }

    /// (year, month, day) of day number `z` (days since 1970-01-01).
    static func civil(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// Day number of (year, month, day) (Hinnant's `days_from_civil`).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// ISO 8601 (week-year, week) of day number `days`: the week's Thursday decides the year.
    static func isoWeek(_ days: Int64) -> (year: Int64, week: Int64) {
        // 1970-01-01 was a Thursday: Monday is 0.
        let weekday = ((days + 3) % 7 + 7) % 7
        let thursday = days - weekday + 3
        let year = civil(thursday).year
        let ordinal = thursday - Self.days(year: year, month: 1, day: 1)
        return (year, ordinal / 7 + 1)
    }

    func bucket(_ tier: RetentionCalendar.Tier, of seconds: Int64) -> String {
        let day = localDay(seconds)
        let c = Self.civil(day)
        func pad(_ n: Int64, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        switch tier {
        case .daily: return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))"
        case .weekly:
            let w = Self.isoWeek(day)
            return "\(pad(w.year, 4))-W\(pad(w.week, 2))"
        case .monthly: return "\(pad(c.year, 4))-\(pad(c.month, 2))"
        case .yearly: return pad(c.year, 4)
        }
    }

    /// The tier keepers the straightforward way: group the backups by bucket, take the `count`
    /// latest buckets (bucket names sort in time order), keep the newest backup of each.
    /// Returns "id → reason" pairs such as "b3 daily 2026-11-30".
    func tierKeepers(_ backups: [RetentionBackup], policy: RetentionPolicy) -> Set<String> {
        var out: Set<String> = []
        for (tier, count) in [(RetentionCalendar.Tier.daily, policy.daily), (.weekly, policy.weekly),
                              (.monthly, policy.monthly), (.yearly, policy.yearly)] where count > 0 {
            var groups: [String: [RetentionBackup]] = [:]
            for b in backups { groups[bucket(tier, of: b.endTime), default: []].append(b) }
            for name in groups.keys.sorted(by: >).prefix(count) {
                guard let newest = groups[name]?.max(by: { ($0.endTime, $0.id) < ($1.endTime, $1.id) }) else { continue }
                out.insert("\(newest.id) \(tier.rawValue) \(name)")
            }
        }
        return out
    }
}
