/// croniter's nth-weekday syntax in the day of week: `d#n` is the n-th day `d` of the month
/// (`1#1` the first Monday, `0#5` or `SUN#5` the fifth Sunday, skipped in months without one),
/// and a list of these (`1#1,3#3`).
///
/// Refused, with the reason: n outside 1-5 (croniter too); a range, step, `*` or name range
/// before `#` (croniter refuses `1-5#2` but accepts `mon-fri#2`, tidemark refuses both); plain
/// days mixed with `d#n` in one field (croniter refuses `1#1,3` but accepts `1#1,1` and
/// `1#1,0-6`, firing only on the `#` days).
extension CronField {
    /// Whether the field is written with `d#n` (then `nth` decides, not `bits`).
    var hasNth: Bool { nth != 0 }

    /// Day `day` of a month, a `weekday` (0 Sunday), is one of the field's `d#n` days.
    func containsNth(weekday: Int, day: Int) -> Bool {
        let n = (day - 1) / 7 + 1
        return nth & (1 << UInt64(weekday * 8 + n)) != 0
    }

    /// The first day >= `day` of a month of `length` days that is one of the `d#n` days
    /// (`weekday` is the weekday of `day`), nil when none is left in the month.
    func nextNthDay(from day: Int, weekday: Int, length: Int) -> Int? {
        var (d, w) = (day, weekday)
        while d <= length {
            if containsNth(weekday: w, day: d) { return d }
            (d, w) = (d + 1, (w + 1) % 7)
        }
        return nil
    }

    static let nthHint = "d#n is the n-th weekday d of the month, d 0-7 (0 and 7 are Sunday) or SUN-SAT and n 1-5: "
        + "1#1 is the first Monday, 0#5 the fifth Sunday (months without one are skipped); list several as 1#1,3#3"

    /// Parses a day-of-week field that uses `#` (`text` is lowercased).
    static func parseNth(_ text: String, raw: String, fail: (String, String) -> CronParseError) throws(CronParseError) -> CronField {
        var bits: UInt64 = 0, nth: UInt64 = 0
        for sub in text.split(separator: ",", omittingEmptySubsequences: false) {
            let item = String(sub)
            if item.isEmpty {
                throw fail("'\(raw)' has an empty list item", "separate values with single commas, e.g. 1#1,3#3")
            }
            let parts = item.split(separator: "#", omittingEmptySubsequences: false).map(String.init)
            if parts.count == 1 {
                throw fail("'\(raw)' mixes plain days of the week ('\(item)') with d#n days",
                           "write every item as d#n, e.g. 1#1,3#3, or put the plain days in a schedule of their own")
            }
            guard parts.count == 2 else { throw fail("'\(item)' has more than one '#'", nthHint) }
            let (base, count) = (parts[0], parts[1])
            guard !count.isEmpty, count.allSatisfy(\.isASCIIDigit), count.count <= 4, let n = Int(count) else {
                throw fail("'\(item)' has '\(count)' after '#', which is not a number", nthHint)
            }
            guard (1...5).contains(n) else {
                throw fail("'\(item)' asks for occurrence \(n) of a weekday in a month; a month has 1 to 5", nthHint)
            }
            if base.isEmpty { throw fail("'\(item)' has no day of the week before '#'", nthHint) }
            if base.contains(where: { $0 == "-" || $0 == "/" || $0 == "*" }) {
                throw fail("'\(item)' puts '\(base)' before '#', which is not a single day of the week",
                           "write each day with its own #, e.g. 1#2,2#2,3#2,4#2,5#2 for the second Monday to Friday")
            }
            let weekday: Int
            if base.allSatisfy(\.isASCIIDigit) {
                guard base.count <= 4, let v = Int(base), Kind.dayOfWeek.writable.contains(v) else {
                    throw fail("'\(base)' in '\(item)' is out of range", nthHint)
                }
                weekday = v % 7
            } else if let i = Kind.dayOfWeek.names.firstIndex(where: { $0.lowercased() == base }) {
                weekday = i
            } else {
                throw fail("'\(base)' in '\(item)' is not a day of the week", nthHint)
            }
            bits |= 1 << UInt64(weekday)
            nth |= 1 << UInt64(weekday * 8 + n)
        }
        return CronField(kind: .dayOfWeek, bits: bits, text: text, nth: nth)
    }
}
