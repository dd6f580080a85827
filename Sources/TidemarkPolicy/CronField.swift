/// One of the five fields of a cron expression: the values it allows, as a bit set.
struct CronField: Sendable, Hashable {
    enum Kind: Int, Sendable, CaseIterable {
        case minute, hour, dayOfMonth, month, dayOfWeek

        var name: String {
            switch self {
            case .minute: "minute"
            case .hour: "hour"
            case .dayOfMonth: "day of month"
            case .month: "month"
            case .dayOfWeek: "day of week"
            }
        }

        /// The values a user may write (7 is Sunday again in the day of week).
        var writable: ClosedRange<Int> {
            switch self {
            case .minute: 0...59
            case .hour: 0...23
            case .dayOfMonth: 1...31
            case .month: 1...12
            case .dayOfWeek: 0...7
            }
        }

        /// The values the field takes once 7 is folded onto 0.
        var values: ClosedRange<Int> { self == .dayOfWeek ? 0...6 : writable }

        var names: [String] {
            switch self {
            case .month: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
            case .dayOfWeek: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
            default: []
            }
        }

        /// What the field holds, said the way the error hints say it.
        var rangeText: String {
            switch self {
            case .minute: "minutes are 0-59"
            case .hour: "hours are 0-23"
            case .dayOfMonth: "days of the month are 1-31"
            case .month: "months are 1-12 or JAN-DEC"
            case .dayOfWeek: "days of the week are 0-7 (0 and 7 are Sunday) or SUN-SAT"
            }
        }

        var everyExample: String {
            switch self {
            case .minute: "write */15 for every 15 minutes"
            case .hour: "write */6 for every 6 hours"
            case .dayOfMonth: "write */2 for every other day"
            case .month: "write */3 for every quarter"
            case .dayOfWeek: "write MON-FRI for weekdays"
            }
        }
    }

    let kind: Kind
    /// Bit v set: value v is allowed.
    let bits: UInt64
    /// The field as written (lowercased), which decides croniter's day-matching rule.
    let text: String
    /// Day of week written with `d#n` (CronField+NthWeekday): bit 8d+n set, the n-th weekday d
    /// of the month is allowed. 0 otherwise.
    var nth: UInt64 = 0

    var isFull: Bool { bits == Self.mask(kind.values) }

    func contains(_ value: Int) -> Bool { value >= 0 && value < 64 && bits & (1 << UInt64(value)) != 0 }

    /// The smallest allowed value >= `value`, nil when there is none.
    func next(atLeast value: Int) -> Int? {
        guard value < 64 else { return nil }
        let rest = bits >> UInt64(max(0, value))
        return rest == 0 ? nil : max(0, value) + rest.trailingZeroBitCount
    }

    static func mask(_ r: ClosedRange<Int>) -> UInt64 {
        var m: UInt64 = 0
        for v in r { m |= 1 << UInt64(v) }
        return m
    }

    /// Parses one field. `fail(message, hint)` builds the error for this field.
    static func parse(_ raw: String, kind: Kind, fail: (String, String) -> CronParseError) throws(CronParseError) -> CronField {
        let text = raw.lowercased()
        if text == "*" { return CronField(kind: kind, bits: mask(kind.values), text: text) }
        if text == "?" {
            throw fail("'?' is not supported", "write * for any \(kind.name)")
        }
        if kind == .dayOfWeek && text.contains("#") { return try parseNth(text, raw: raw, fail: fail) }
        var bits: UInt64 = 0
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        for item in items {
            bits |= try parseItem(String(item), raw: raw, kind: kind, fail: fail)
        }
        return CronField(kind: kind, bits: bits, text: text)
    }

    private static func parseItem(_ item: String, raw: String, kind: Kind,
                                  fail: (String, String) -> CronParseError) throws(CronParseError) -> UInt64 {
        if item.isEmpty {
            throw fail("'\(raw)' has an empty list item", "separate values with single commas, e.g. 1,15,30")
        }
        let usesExtension = item.contains("#") || item.hasPrefix("h") || item == "l"
            || (kind == .dayOfMonth && (item.contains("w") || item.contains("l")))
            || (kind == .dayOfWeek && item.hasSuffix("l"))
        if usesExtension {
            throw fail("'\(item)' uses a cron extension (L, W, # or H) that tidemark does not support",
                       "use plain values, ranges, steps and lists; \(kind.rangeText)")
        }
        let parts = item.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else {
            throw fail("'\(item)' has more than one '/'", "a step is written once, e.g. */15 or 0-30/5")
        }
        var step = 1
        if parts.count == 2 {
            let s = String(parts[1])
            guard !s.isEmpty, s.allSatisfy(\.isASCIIDigit), let n = Int(s) else {
                throw fail("'\(item)' has a step '\(s)' that is not a number", "a step is a whole number, e.g. */15")
            }
            guard n > 0 else { throw fail("'\(item)' has a step of 0", "a step is at least 1; \(kind.everyExample)") }
            let span = kind.values.upperBound - kind.values.lowerBound
            guard n <= span else {
                throw fail("'\(item)' steps by \(n), more than the field's span (\(kind.rangeText))",
                           "a step never crosses into the next \(kind == .minute ? "hour" : "period"): list the values instead, or use a step of at most \(span)")
            }
            step = n
        }
        let base = String(parts[0])
        let low: Int, high: Int
        if base == "*" {
            (low, high) = (kind.values.lowerBound, kind.values.upperBound)
        } else if let dash = base.firstIndex(of: "-") {
            let a = String(base[..<dash]), b = String(base[base.index(after: dash)...])
            if a.isEmpty { throw fail("'\(item)' is negative or misses the start of its range", "\(kind.rangeText); a range is a-b with a < b") }
            low = try value(a, item: item, kind: kind, fail: fail)
            high = try value(b, item: item, kind: kind, fail: fail)
            if low == high {
                throw fail("'\(item)' is a range from \(a) to \(b)", "write just \(a)")
            }
            if low > high {
                throw fail("'\(item)' is a reversed range (\(a) comes after \(b))",
                           "ranges go from low to high; for one that wraps around, write two, e.g. \(a)-\(kind.writable.upperBound),\(kind.writable.lowerBound)-\(b)")
            }
        } else {
            let v = try value(base, item: item, kind: kind, fail: fail)
            if parts.count == 2 {
                // "a/n" is "a-max/n"; in the day of week the cycle is 0-6, so 7/n starts on Sunday (0).
                low = kind == .dayOfWeek && v == 7 ? 0 : v
                high = kind.values.upperBound
            } else {
                (low, high) = (v, v)
            }
        }
        if base == "*" && parts.count == 1 {
            throw fail("'*' in a list with other values", "* alone already means every \(kind.name); drop the list or the *")
        }
        var bits: UInt64 = 0
        for v in stride(from: low, through: high, by: step) {
            bits |= 1 << UInt64(kind == .dayOfWeek && v == 7 ? 0 : v)
        }
        return bits
    }

    private static func value(_ s: String, item: String, kind: Kind,
                              fail: (String, String) -> CronParseError) throws(CronParseError) -> Int {
        if s.isEmpty {
            throw fail("'\(item)' is missing a value", "\(kind.rangeText); a range is a-b with a < b")
        }
        if s.allSatisfy(\.isASCIIDigit) {
            guard s.count <= 4, let v = Int(s), kind.writable.contains(v) else {
                throw fail("'\(s)' is out of range", "\(kind.rangeText); \(kind.everyExample)")
            }
            return v
        }
        if let i = kind.names.firstIndex(where: { $0.lowercased() == s }) {
            return kind == .month ? i + 1 : i
        }
        if kind.names.isEmpty {
            throw fail("'\(item)' is not a number", "\(kind.rangeText); \(kind.everyExample)")
        }
        throw fail("'\(s)' is not a known name", "\(kind.rangeText) (three-letter names, e.g. \(kind.names[1]))")
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
