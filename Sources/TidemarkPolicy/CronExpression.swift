/// Why a cron expression was refused: which field, what is wrong, and how to write it instead.
public struct CronParseError: Error, Sendable, CustomStringConvertible {
    public var expression: String
    /// "minute", "hour", "day of month", "month" or "day of week"; nil when the expression as a
    /// whole is wrong (its field count, an unknown shorthand).
    public var field: String?
    public var message: String
    /// The fix, e.g. "minutes are 0-59; write */15 for every 15 minutes".
    public var hint: String

    public init(expression: String, field: String?, message: String, hint: String) {
        self.expression = expression
        self.field = field
        self.message = message
        self.hint = hint
    }

    public var description: String {
        let place = field.map { " in the \($0) field" } ?? ""
        return "invalid cron expression '\(expression)'\(place): \(message)\nHINT: \(hint)"
    }
}

/// A five-field cron expression (minute hour day-of-month month day-of-week), parsed.
///
/// Accepts `*`, `a`, `a-b`, `*/n`, `a-b/n`, `a/n` (from a to the field's end), lists of these,
/// JAN–DEC and SUN–SAT (any case), 0 and 7 for Sunday, `d#n` in the day of week (the n-th
/// weekday d of the month, e.g. `1#1` the first Monday, `1#1,3#3`), and @yearly @annually
/// @monthly @weekly @daily @midnight @hourly. When both day fields are restricted, a day matching either one
/// matches (Vixie cron and croniter); a field that covers every value counts as unrestricted
/// when it is written `*` or when the other day field's text contains a `*` (croniter's rule).
/// Refuses seconds and year fields, @reboot, L/W/H/?, steps of 0 or wider than the field,
/// ranges written backwards or from a value to itself, `d#n` with a range, a step, plain days
/// or a restricted day of month (croniter then ignores the day of month, or never fires).
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    /// The text as given, trimmed.
    public var description: String
    let minutes: CronField
    let hours: CronField
    let daysOfMonth: CronField
    let months: CronField
    let daysOfWeek: CronField

    static let shorthands: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    public static func parse(_ text: String) throws(CronParseError) -> CronExpression {
        let trimmed = text.trimmingCronWhitespace()
        func fail(_ field: String?, _ message: String, _ hint: String) -> CronParseError {
            CronParseError(expression: trimmed, field: field, message: message, hint: hint)
        }
        let fieldsHint = "a cron expression has 5 fields: minute hour day month weekday, e.g. '30 2 * * *' for 02:30 every day"
        guard !trimmed.isEmpty else { throw fail(nil, "the expression is empty", fieldsHint) }
        var body = trimmed
        if trimmed.hasPrefix("@") {
            let key = trimmed.lowercased()
            if key == "@reboot" {
                throw fail(nil, "@reboot is not supported: tidemark runs jobs by the clock, not at start-up",
                           "write a time instead, e.g. @daily or '0 3 * * *'")
            }
            guard let expansion = shorthands[key] else {
                throw fail(nil, "unknown shorthand '\(trimmed)'",
                           "the shorthands are @yearly @annually @monthly @weekly @daily @midnight @hourly")
            }
            body = expansion
        }
        let parts = body.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        switch parts.count {
        case 5: break
        case 6:
            throw fail(nil, "6 fields: a seconds field (or a year) is not supported, tidemark schedules to the minute",
                       "\(fieldsHint); drop the seconds field")
        case 7:
            throw fail(nil, "7 fields: seconds and year fields are not supported", fieldsHint)
        default:
            throw fail(nil, "\(parts.count) field\(parts.count == 1 ? "" : "s") instead of 5", fieldsHint)
        }
        var fields: [CronField] = []
        for (kind, raw) in zip(CronField.Kind.allCases, parts) {
            fields.append(try CronField.parse(raw, kind: kind) { message, hint in fail(kind.name, message, hint) })
        }
        if fields[4].hasNth && !fields[2].isFull {
            throw fail(CronField.Kind.dayOfWeek.name,
                       "'\(parts[4])' picks days by their place in the month, which cannot be combined with the day of month '\(parts[2])'",
                       "with d#n write * in the day of month, e.g. '0 6 * * 1#1' for 06:00 on the first Monday")
        }
        return CronExpression(description: trimmed, minutes: fields[0], hours: fields[1],
                              daysOfMonth: fields[2], months: fields[3], daysOfWeek: fields[4])
    }

    /// The day of month takes part in matching (croniter: its expansion is not `*`).
    /// With `d#n` the day of month covers every day (parse checks it) and takes no part.
    var restrictsDayOfMonth: Bool {
        !(daysOfWeek.hasNth || daysOfMonth.text == "*" || daysOfMonth.isFull && daysOfWeek.text.contains("*"))
    }

    /// The day of week takes part in matching.
    var restrictsDayOfWeek: Bool {
        !(daysOfWeek.text == "*" || daysOfWeek.isFull && daysOfMonth.text.contains("*"))
    }
}

extension String {
    func trimmingCronWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
