/// Wall-clock (zone-less) time as seconds since 1970-01-01T00:00 on the local calendar, and the
/// search for the next wall-clock minute an expression matches, skipping by field.
enum CronWallClock {
    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(days z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
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
