#if canImport(FoundationEssentials)
import FoundationEssentials
#endif
import Foundation

/// A cron expression evaluated on the wall clock of one time zone.
///
/// Across DST changes it does what croniter 7 does with a `zoneinfo` zone (CronOracleTests
/// compares thousands of cases):
/// - a fire time that falls in a gap (spring forward) fires at the first minute after the gap
///   when the hour field is restricted ("30 2 * * *" fires at 03:00 in New York); with `*` in
///   the hour field the missing minutes are skipped ("30 * * * *" fires at 03:30);
/// - a fire time in a fold (fall back) fires once per matching wall-clock time that is still
///   ahead, so the repeated hour runs again: "*/15 * * * *" fires at 01:00–01:45 twice, and
///   "30 1 * * *" fires at 01:30 on both sides of the change.
public struct CronSchedule: Sendable {
    public let expression: CronExpression
    public let timeZone: TimeZone

    public init(_ expression: CronExpression, timeZone: TimeZone) {
        self.expression = expression
        self.timeZone = timeZone
    }

    /// The first fire time strictly after `date` (nil only if none exists within croniter's
    /// horizon of 50 years, e.g. "0 0 30 2 *").
    public func next(after date: Date) -> Date? {
        let seconds = date.timeIntervalSince1970
        // Ten thousand years either side: beyond that the calendar arithmetic is not worth trusting.
        guard seconds.isFinite, abs(seconds) < 3.2e11 else { return nil }
        let now = Int64(seconds.rounded(.down))
        return nextInstant(after: now).map { Date(timeIntervalSince1970: TimeInterval($0)) }
    }

    public func nextRuns(after date: Date, count: Int) -> [Date] {
        var runs: [Date] = []
        var from = date
        while runs.count < count, let run = next(after: from) {
            runs.append(run)
            from = run
        }
        return runs
    }

    /// A wall-clock time with the instant it was resolved to.
    struct Aware {
        let wall: Int64
        let instant: Int64
        var offset: Int64 { wall - instant }
    }

    func nextInstant(after now: Int64) -> Int64? {
        let e = expression
        if e.restrictsDayOfMonth && e.restrictsDayOfWeek {
            // Either day field matches: croniter runs the search once per field and takes the
            // earlier wall-clock time.
            let byDay = calc(now, CronWallClock.Matcher(expression: e, useDayOfMonth: true, useDayOfWeek: false))
            let byWeekday = calc(now, CronWallClock.Matcher(expression: e, useDayOfMonth: false, useDayOfWeek: true))
            switch (byDay, byWeekday) {
            case (nil, nil): return nil
            case (let a?, nil): return a.instant
            case (nil, let b?): return b.instant
            case (let a?, let b?): return a.wall < b.wall ? a.instant : b.instant
            }
        }
        let matcher = CronWallClock.Matcher(expression: e, useDayOfMonth: e.restrictsDayOfMonth,
                                            useDayOfWeek: e.restrictsDayOfWeek)
        return calc(now, matcher)?.instant
    }

    /// croniter's `_calc` for a time zone: the next matching wall-clock time, placed on the
    /// time line, with its rules for gaps and folds.
    func calc(_ now: Int64, _ matcher: CronWallClock.Matcher) -> Aware? {
        let nowOffset = offset(at: now)
        let nowWall = now + nowOffset
        guard var wall = matcher.next(after: nowWall) else { return nil }
        var (aware, exists) = place(wall, after: now)
        if !exists && (aware.instant <= now || expression.hours.isFull) {
            // The time is in a gap and moving it past the gap will not do: the next match that exists.
            while !exists {
                guard let later = matcher.next(after: wall) else { return nil }
                wall = later
                (aware, exists) = place(wall, after: now)
            }
        }
        let delta = aware.offset - nowOffset
        guard delta != 0 else { return aware }
        // The offset changed on the way: a match counted on the other offset's clock may come first.
        guard let otherWall = matcher.next(after: nowWall + delta) else { return nil }
        let (other, otherExists) = place(otherWall, after: now)
        if !otherExists || other.instant <= now { return aware }
        return aware.instant > other.instant ? other : aware
    }

    /// croniter's `_add_tzinfo`: a wall-clock time on the time line. In a gap, the first minute
    /// after it (and `exists` false); in a fold, the earlier instant unless it is not after `now`.
    func place(_ wall: Int64, after now: Int64) -> (Aware, exists: Bool) {
        var candidates = instants(ofWall: wall)
        if let first = candidates.first {
            if candidates.count > 1 && first <= now, let last = candidates.last {
                return (Aware(wall: wall, instant: last), true)
            }
            return (Aware(wall: wall, instant: first), true)
        }
        var shifted = wall
        // A gap is at most a day long in any zone; the bound only guards against a broken zone.
        for _ in 0..<(24 * 60) {
            shifted += 60
            candidates = instants(ofWall: shifted)
            if let first = candidates.first { return (Aware(wall: shifted, instant: first), false) }
        }
        return (Aware(wall: wall, instant: wall - offset(at: wall)), false)
    }

    /// The instants whose wall clock in this zone reads `wall`, earliest first: none in a
    /// gap, two in a fold.
    func instants(ofWall wall: Int64) -> [Int64] {
        let a = offset(at: wall - 54_000), b = offset(at: wall), c = offset(at: wall + 54_000)
        var out: [Int64] = []
        for o in [a, b, c] {
            let t = wall - o
            if !out.contains(t) && offset(at: t) == o { out.append(t) }
        }
        return out.sorted()
    }

    func offset(at instant: Int64) -> Int64 {
        Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant))))
    }
}
