import TidemarkCore

/// Wall-clock (zone-less) time as seconds since 1970-01-01T00:00 on the local calendar, and the
/// search for the next wall-clock minute an expression matches, skipping by field.
enum CronWallClock {
    /// Days since 1970-01-01 of a proleptic Gregorian date (the calendar arithmetic of
    /// `CivilDate` in TidemarkCore, H. Hinnant's days_from_civil).
    static func days(year: Int, month: Int, day: Int) -> Int {
        Int(CivilDate.toDays(year: Int64(year), month: Int64(month), day: Int64(day)))
    }

    static func civil(days z0: Int) -> (year: Int, month: Int, day: Int) {
        let (y, m, d) = CivilDate.fromDays(Int64(z0))
        return (Int(y), Int(m), Int(d))
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        Int(CivilDate.daysInMonth(year: Int64(year), month: Int64(month)))
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : -((-a + b - 1) / b)
    }

    /// Which fields take part, and how the search may run.
    struct Matcher {
        let expression: CronExpression
        let useDayOfMonth: Bool
        let useDayOfWeek: Bool
        /// croniter stops looking after this many years.
        static let horizonYears = 50

        /// The first matching wall-clock minute after the minute holding `wall` (croniter's
        /// `_calc` on a zone-less time: `wall` + 1 minute, seconds dropped, then field by field).
        func next(after wall: Int64) -> Int64? {
            let start = (floorDiv(wall, 60) + 1) * 60
            let dayNumber = Int(floorDiv(start, 86_400))
            let secondOfDay = Int(start - Int64(dayNumber) * 86_400)
            var (year, month, day) = civil(days: dayNumber)
            var hour = secondOfDay / 3600, minute = secondOfDay % 3600 / 60
            let lastYear = year + Self.horizonYears
            let e = expression
            func nextDay() {
                (hour, minute) = (0, 0)
                day += 1
                if day > daysInMonth(year: year, month: month) { nextMonth() }
            }
            func nextMonth() {
                (day, hour, minute) = (1, 0, 0)
                month += 1
                if month > 12 { (month, year) = (1, year + 1) }
            }
            while year <= lastYear {
                guard e.months.contains(month) else {
                    if let m = e.months.next(atLeast: month) {
                        (month, day, hour, minute) = (m, 1, 0, 0)
                    } else {
                        (year, month, day, hour, minute) = (year + 1, e.months.next(atLeast: 1) ?? 1, 1, 0, 0)
                    }
                    continue
                }
                let length = daysInMonth(year: year, month: month)
                if useDayOfMonth && !e.daysOfMonth.contains(day) {
                    if let d = e.daysOfMonth.next(atLeast: day), d <= length {
                        (day, hour, minute) = (d, 0, 0)
                    } else {
                        nextMonth()
                    }
                    continue
                }
                if useDayOfWeek {
                    let weekday = ((days(year: year, month: month, day: day) % 7) + 11) % 7  // 1970-01-01 was a Thursday
                    if e.daysOfWeek.hasNth {
                        if !e.daysOfWeek.containsNth(weekday: weekday, day: day) {
                            (hour, minute) = (0, 0)
                            if let d = e.daysOfWeek.nextNthDay(from: day, weekday: weekday, length: length) { day = d } else { nextMonth() }
                            continue
                        }
                    } else if !e.daysOfWeek.contains(weekday) {
                        let target = e.daysOfWeek.next(atLeast: weekday) ?? (e.daysOfWeek.next(atLeast: 0).map { $0 + 7 } ?? 7)
                        let ahead = target - weekday
                        (hour, minute) = (0, 0)
                        if day + ahead > length { nextMonth() } else { day += ahead }
                        continue
                    }
                }
                guard e.hours.contains(hour) else {
                    if let h = e.hours.next(atLeast: hour) { (hour, minute) = (h, 0) } else { nextDay() }
                    continue
                }
                guard e.minutes.contains(minute) else {
                    if let m = e.minutes.next(atLeast: minute) {
                        minute = m
                    } else {
                        minute = 0
                        hour += 1
                        if hour == 24 { nextDay() }
                    }
                    continue
                }
                return Int64(days(year: year, month: month, day: day)) * 86_400 + Int64(hour * 3600 + minute * 60)
            }
            return nil
        }
    }
}
