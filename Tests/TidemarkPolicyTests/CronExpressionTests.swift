#if canImport(FoundationEssentials)
import FoundationEssentials
#endif
import Foundation
import Testing
@testable import TidemarkPolicy

/// CronExpression's syntax and errors, and CronSchedule at named DST changes (the expected
/// times are croniter 7's; CronOracleTests covers thousands more).
@Suite("Cron expressions")
struct CronExpressionTests {
    static func schedule(_ text: String, _ zone: String = "UTC") throws -> CronSchedule {
        CronSchedule(try CronExpression.parse(text), timeZone: try #require(TimeZone(identifier: zone)))
    }

    static func runs(_ text: String, _ zone: String = "UTC", after t: Int64, count: Int = 4) throws -> [Int64] {
        try schedule(text, zone).nextRuns(after: Date(timeIntervalSince1970: TimeInterval(t)), count: count)
            .map { Int64($0.timeIntervalSince1970) }
    }

    static func utc(_ y: Int, _ m: Int, _ d: Int, _ h: Int = 0, _ min: Int = 0) -> Int64 {
        Int64(CronWallClock.days(year: y, month: m, day: d)) * 86_400 + Int64(h * 3600 + min * 60)
    }

    static func error(_ text: String) -> CronParseError? {
        do {
            _ = try CronExpression.parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func theTestsClockIsRight() {
        #expect(Self.utc(2026, 3, 8, 7) == 1_772_953_200)
        #expect(Self.utc(1970, 1, 1) == 0)
        #expect(CronWallClock.civil(days: CronWallClock.days(year: 2028, month: 2, day: 29)) == (2028, 2, 29))
    }

    @Test func descriptionIsTheTrimmedText() throws {
        #expect(try CronExpression.parse("  */5 * * * *\t").description == "*/5 * * * *")
        #expect(try CronExpression.parse("@Daily").description == "@Daily")
    }

    @Test func everyFormMeansWhatCronMeans() throws {
        let start = Self.utc(2026, 1, 1)  // a Thursday
        #expect(try Self.runs("*/15 * * * *", after: start, count: 3) == [900, 1800, 2700].map { start + $0 })
        #expect(try Self.runs("5/20 * * * *", after: start, count: 4) == [5, 25, 45, 65].map { start + $0 * 60 })
        #expect(try Self.runs("10-20/5 3 * * *", after: start, count: 4)
                == [Self.utc(2026, 1, 1, 3, 10), Self.utc(2026, 1, 1, 3, 15), Self.utc(2026, 1, 1, 3, 20), Self.utc(2026, 1, 2, 3, 10)])
        #expect(try Self.runs("0 0,12 * * *", after: start, count: 3)
                == [Self.utc(2026, 1, 1, 12), Self.utc(2026, 1, 2), Self.utc(2026, 1, 2, 12)])
        // Names in any case, 7 and 0 for Sunday, ranges of names.
        #expect(try Self.runs("0 9 * feb-Mar MON-fri", after: start, count: 1) == [Self.utc(2026, 2, 2, 9)])
        #expect(try Self.runs("0 9 * * 7", after: start, count: 2) == Self.runs("0 9 * * SUN", after: start, count: 2))
        #expect(try Self.runs("0 9 * * 0", after: start, count: 2) == [Self.utc(2026, 1, 4, 9), Self.utc(2026, 1, 11, 9)])
        #expect(try Self.runs("0 9 * * 5-7", after: start, count: 3)
                == [Self.utc(2026, 1, 2, 9), Self.utc(2026, 1, 3, 9), Self.utc(2026, 1, 4, 9)])
    }

    @Test func shorthands() throws {
        let start = Self.utc(2026, 5, 13, 10, 30)  // a Wednesday
        #expect(try Self.runs("@hourly", after: start, count: 1) == [Self.utc(2026, 5, 13, 11)])
        #expect(try Self.runs("@daily", after: start, count: 1) == [Self.utc(2026, 5, 14)])
        #expect(try Self.runs("@midnight", after: start, count: 1) == [Self.utc(2026, 5, 14)])
        #expect(try Self.runs("@weekly", after: start, count: 1) == [Self.utc(2026, 5, 17)])
        #expect(try Self.runs("@monthly", after: start, count: 1) == [Self.utc(2026, 6, 1)])
        #expect(try Self.runs("@yearly", after: start, count: 1) == [Self.utc(2027, 1, 1)])
        #expect(try Self.runs("@ANNUALLY", after: start, count: 1) == [Self.utc(2027, 1, 1)])
    }

    @Test func nextIsStrictlyAfter() throws {
        let s = try Self.schedule("30 2 * * *")
        let at = Self.utc(2026, 4, 1, 2, 30)
        #expect(s.next(after: Date(timeIntervalSince1970: TimeInterval(at))) == Date(timeIntervalSince1970: TimeInterval(at + 86_400)))
        #expect(s.next(after: Date(timeIntervalSince1970: TimeInterval(at) - 0.5)) == Date(timeIntervalSince1970: TimeInterval(at)))
    }

    /// Both day fields restricted: a day matching either fires (Jan 2026: the 13th is a Tuesday).
    @Test func dayOfMonthOrDayOfWeek() throws {
        #expect(try Self.runs("0 0 13 * 5", after: Self.utc(2026, 1, 1), count: 4)
                == [Self.utc(2026, 1, 2), Self.utc(2026, 1, 9), Self.utc(2026, 1, 13), Self.utc(2026, 1, 16)])
        // One of them `*`: only the other one counts.
        #expect(try Self.runs("0 0 13 * *", after: Self.utc(2026, 1, 1), count: 2) == [Self.utc(2026, 1, 13), Self.utc(2026, 2, 13)])
        #expect(try Self.runs("0 0 * * 5", after: Self.utc(2026, 1, 1), count: 2) == [Self.utc(2026, 1, 2), Self.utc(2026, 1, 9)])
    }

    @Test func impossibleAndRareDates() throws {
        #expect(try Self.schedule("0 0 30 2 *").next(after: Date(timeIntervalSince1970: 0)) == nil)
        #expect(try Self.runs("0 0 31 4,6,9,11 *", after: 0, count: 3) == [])
        #expect(try Self.runs("0 0 29 2 *", after: Self.utc(2026, 1, 1), count: 2) == [1_835_395_200, 1_961_625_600])
        #expect(try Self.runs("0 0 29 2 *", after: Self.utc(2097, 1, 1), count: 1) == [Self.utc(2104, 2, 29)])
        // Or-ed with a weekday, the impossible day of month does not matter (Monday 2 February).
        #expect(try Self.runs("0 0 30 2 1", after: Self.utc(2026, 1, 1), count: 1) == [Self.utc(2026, 2, 2)])
    }

    /// `d#n`: the n-th weekday d of the month (croniter's syntax), as the service's default
    /// rehearsal job `0 6 * * 1#1` uses it.
    @Test func nthWeekdayOfTheMonth() throws {
        // The first Monday of December 2026 is the 7th (the 1st is a Tuesday).
        #expect(try Self.runs("0 6 * * 1#1", after: Self.utc(2026, 11, 15), count: 3)
                == [Self.utc(2026, 12, 7, 6), Self.utc(2027, 1, 4, 6), Self.utc(2027, 2, 1, 6)])
        #expect(try Self.runs("0 6 * * 1#1", "Europe/Berlin", after: Self.utc(2026, 11, 15), count: 1) == [Self.utc(2026, 12, 7, 5)])
        #expect(try Self.runs("0 6 * * MON#2", after: Self.utc(2026, 11, 1), count: 2) == [Self.utc(2026, 11, 9, 6), Self.utc(2026, 12, 14, 6)])
        #expect(try Self.runs("0 6 * * 5#3", after: Self.utc(2026, 11, 1), count: 2) == [Self.utc(2026, 11, 20, 6), Self.utc(2026, 12, 18, 6)])
        // A list, in date order; a full day of month is the same as `*`.
        #expect(try Self.runs("0 6 * * 1#1,3#3", after: Self.utc(2026, 11, 1), count: 4)
                == [Self.utc(2026, 11, 2, 6), Self.utc(2026, 11, 18, 6), Self.utc(2026, 12, 7, 6), Self.utc(2026, 12, 16, 6)])
        #expect(try Self.runs("0 6 1-31 * 1#1", after: Self.utc(2026, 11, 1), count: 2) == Self.runs("0 6 * * 1#1", after: Self.utc(2026, 11, 1), count: 2))
    }

    /// The fifth Sunday: months without one are skipped (December 2026 and Feb-Apr 2027 have four).
    @Test func fifthSundayMonths() throws {
        let fifth = [Self.utc(2026, 11, 29, 6), Self.utc(2027, 1, 31, 6), Self.utc(2027, 5, 30, 6), Self.utc(2027, 8, 29, 6)]
        for text in ["0 6 * * 0#5", "0 6 * * 7#5", "0 6 * * sun#5", "0 6 * * 00#05"] {
            #expect(try Self.runs(text, after: Self.utc(2026, 11, 1), count: 4) == fifth, "\(text)")
        }
        // A fifth Monday in February: only when February 1st is a Monday of a leap year (2044, 2072, then 2112).
        #expect(try Self.runs("0 6 * 2 1#5", after: Self.utc(2026, 1, 1), count: 2) == [Self.utc(2044, 2, 29, 6), Self.utc(2072, 2, 29, 6)])
    }

    /// DST changes fall on nth Sundays: New York's second Sunday of March and first of November.
    @Test func nthWeekdayAcrossDSTChanges() throws {
        let ny = "America/New_York"
        // 02:30 does not exist on 2026-03-08: 03:00 EDT, then the second Sunday of April.
        #expect(try Self.runs("30 2 * * 0#2", ny, after: Self.utc(2026, 3, 1), count: 2) == [1_772_953_200, 1_775_975_400])
        // 01:30 happens twice on 2026-11-01, then the first Sunday of December.
        #expect(try Self.runs("30 1 * * 0#1", ny, after: Self.utc(2026, 10, 25), count: 3) == [1_793_511_000, 1_793_514_600, 1_796_538_600])
        // Berlin's change is the last Sunday of March, the fifth in 2026 (02:00 becomes 03:00).
        #expect(try Self.runs("0 2 * * 0#5", "Europe/Berlin", after: Self.utc(2026, 3, 1), count: 2) == [1_774_746_000, 1_780_185_600])
        #expect(try Self.runs("15 2 * * 0#1", "Australia/Lord_Howe", after: Self.utc(2026, 9, 20), count: 2) == [1_791_041_400, 1_793_459_700])
    }

    /// New York, 2026-03-08: 02:00 EST becomes 03:00 EDT.
    @Test func springForwardInNewYork() throws {
        let ny = "America/New_York"
        // A restricted hour in the gap fires at the first minute after it.
        #expect(try Self.runs("30 2 * * *", ny, after: 1_772_902_800, count: 2) == [1_772_953_200, 1_773_037_800])
        // Every hour: the missing 02:30 is skipped.
        #expect(try Self.runs("30 * * * *", ny, after: 1_772_948_700, count: 3) == [1_772_951_400, 1_772_955_000, 1_772_958_600])
    }

    /// New York, 2026-11-01: 02:00 EDT becomes 01:00 EST; the repeated hour fires again.
    @Test func fallBackInNewYork() throws {
        let ny = "America/New_York"
        #expect(try Self.runs("30 1 * * *", ny, after: 1_793_462_400, count: 3) == [1_793_511_000, 1_793_514_600, 1_793_601_000])
        #expect(try Self.runs("*/20 1 * * *", ny, after: 1_793_508_600, count: 7)
                == [1_793_509_200, 1_793_510_400, 1_793_511_600, 1_793_512_800, 1_793_514_000, 1_793_515_200, 1_793_599_200])
    }

    @Test func springForwardInBerlin() throws {
        #expect(try Self.runs("30 2 * * *", "Europe/Berlin", after: 1_774_695_600, count: 2) == [1_774_746_000, 1_774_830_600])
    }

    /// Lord Howe moves its clock by 30 minutes: 02:00 becomes 02:30 (2026-10-04), 02:00 becomes
    /// 01:30 (2026-04-05).
    @Test func halfHourShiftOnLordHowe() throws {
        let lh = "Australia/Lord_Howe"
        #expect(try Self.runs("15 2 * * *", lh, after: 1_790_991_000, count: 2) == [1_791_041_400, 1_791_126_900])
        #expect(try Self.runs("*/15 * * * *", lh, after: 1_791_040_200, count: 3) == [1_791_040_500, 1_791_041_400, 1_791_042_300])
        #expect(try Self.runs("*/15 * * * *", lh, after: 1_775_311_800, count: 6)
                == [1_775_312_100, 1_775_313_000, 1_775_313_900, 1_775_314_800, 1_775_315_700, 1_775_316_600])
    }

    @Test(arguments: [
        ("* * * *", nil, "5 fields: minute hour day month weekday"),
        ("0 0 * * * *", nil, "seconds"),
        ("0 0 0 * * * 2030", nil, "7 fields"),
        ("@reboot", nil, "not supported"),
        ("@every", nil, "@yearly @annually @monthly @weekly @daily @midnight @hourly"),
        ("", nil, "5 fields"),
        ("60 * * * *", "minute", "minutes are 0-59; write */15 for every 15 minutes"),
        ("0 24 * * *", "hour", "hours are 0-23"),
        ("0 0 0 * *", "day of month", "days of the month are 1-31"),
        ("0 0 * 13 *", "month", "months are 1-12 or JAN-DEC"),
        ("0 0 * * 8", "day of week", "0 and 7 are Sunday"),
        ("*/0 * * * *", "minute", "a step is at least 1"),
        ("0 0-23/0 * * *", "hour", "a step is at least 1"),
        ("0 22-2 * * *", "hour", "22-23,0-2"),
        ("0 0 * * FRI-MON", "day of week", "ranges go from low to high"),
        ("0 0 * JANUARY *", "month", "three-letter names"),
        ("0 0 * * funday", "day of week", "SUN-SAT"),
        ("five * * * *", "minute", "minutes are 0-59"),
        ("5-5 * * * *", "minute", "write just 5"),
        ("*/90 * * * *", "minute", "list the values instead"),
        ("0 0 L * *", "day of month", "1-31"),
        ("0 0 * * 5L", "day of week", "SUN-SAT"),
        ("0 6 * * 1#0", "day of week", "n 1-5"),
        ("0 6 * * 1#6", "day of week", "occurrence 6"),
        ("0 6 * * 8#1", "day of week", "out of range"),
        ("0 6 * * 1#", "day of week", "1#1 is the first Monday"),
        ("0 6 * * #1", "day of week", "no day of the week before '#'"),
        ("0 6 * * 1##1", "day of week", "more than one '#'"),
        ("0 6 * * 1-5#2", "day of week", "1#2,2#2,3#2,4#2,5#2"),
        ("0 6 * * MON-FRI#2", "day of week", "each day with its own #"),
        ("0 6 * * */2#1", "day of week", "not a single day of the week"),
        ("0 6 * * monday#1", "day of week", "not a day of the week"),
        ("0 6 * * 1#1,3", "day of week", "mixes plain days"),
        ("0 6 * * 1#1,1", "day of week", "mixes plain days"),
        ("0 6 * * 1#1,0-6", "day of week", "mixes plain days"),
        ("0 6 * * 1#1,", "day of week", "single commas"),
        ("0 6 15 * 1#1", "day of week", "write * in the day of month"),
        ("0 6 1-7 * 1#1", "day of week", "day of month '1-7'"),
        ("1#2 * * * *", "minute", "extension"),
        ("0 0 ? * *", "day of month", "write *"),
        ("*,5 * * * *", "minute", "* alone"),
        ("1,,2 * * * *", "minute", "single commas"),
        ("0 1- * * *", "hour", "a range is a-b"),
    ] as [(String, String?, String)])
    func refused(_ text: String, field: String?, says: String) throws {
        let error = try #require(Self.error(text), "'\(text)' parsed")
        #expect(error.field == field, "\(error)")
        #expect(error.description.contains(says), "\(error)")
        #expect(error.expression == text.trimmingCronWhitespace())
        #expect(!error.hint.isEmpty)
    }

    /// Skipping by field, not minute by minute: 10,000 `next` calls stay well under a second
    /// even with a sparse schedule in a zone with DST.
    @Test func nextIsFast() throws {
        let schedules = try [Self.schedule("0 3 29 2 *", "America/New_York"), Self.schedule("*/7 1-3 * * 1-5", "Australia/Lord_Howe"),
                             Self.schedule("0 0 13 * 5", "Europe/Berlin")]
        let base = TimeInterval(Self.utc(2026, 1, 1))
        var found = 0
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for i in 0..<10_000 where schedules[i % 3].next(after: Date(timeIntervalSince1970: base + TimeInterval(i * 3607))) != nil {
                found += 1
            }
        }
        #expect(found == 10_000)
        #expect(elapsed < .seconds(1), "10,000 next calls took \(elapsed)")
    }
}
