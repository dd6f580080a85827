import Testing
import TidemarkCore
@testable import TidemarkPolicy

/// RetentionCalendar's buckets at the edges: DST changes, ISO week 53, leap days, year ends
/// east and west of UTC, half-hour zones, unknown zones.
@Suite("Retention calendar")
struct RetentionCalendarTests {
    /// Seconds since the epoch of a UTC civil time.
    static func utc(_ y: Int64, _ m: Int64, _ d: Int64, _ h: Int64 = 0, _ min: Int64 = 0) -> Int64 {
        ReferenceCalendar.days(year: y, month: m, day: d) * 86_400 + h * 3600 + min * 60
    }

    static func calendar(_ zone: String?) throws -> RetentionCalendar {
        try #require(RetentionCalendar(timeZone: zone))
    }

    @Test func theTestsClockIsRight() {
        #expect(Self.utc(2026, 11, 1) == 1_793_491_200)
        #expect(Self.utc(1970, 1, 1) == 0)
        #expect(Self.utc(2028, 2, 29, 12) == 1_835_438_400)
    }

    /// Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00Z). Local 00:30 and 01:30 are
    /// CET, 03:30 is CEST; 02:30 does not exist.
    @Test func springForwardInBerlin() throws {
        let c = try Self.calendar("Europe/Berlin")
        let cases: [(Int64, String)] = [
            (Self.utc(2026, 3, 28, 22, 59), "2026-03-28"),  // 23:59 CET
            (Self.utc(2026, 3, 28, 23, 30), "2026-03-29"),  // 00:30 CET
            (Self.utc(2026, 3, 29, 0, 30), "2026-03-29"),   // 01:30 CET
            (Self.utc(2026, 3, 29, 0, 59), "2026-03-29"),   // 01:59 CET
            (Self.utc(2026, 3, 29, 1, 0), "2026-03-29"),    // 03:00 CEST
            (Self.utc(2026, 3, 29, 1, 30), "2026-03-29"),   // 03:30 CEST
            (Self.utc(2026, 3, 29, 21, 59), "2026-03-29"),  // 23:59 CEST
            (Self.utc(2026, 3, 29, 22, 0), "2026-03-30"),   // 00:00 CEST
            (Self.utc(2026, 3, 29, 22, 30), "2026-03-30"),  // 00:30 CEST
        ]
        for (t, day) in cases { #expect(c.bucket(.daily, of: t) == day, "\(t)") }
    }

    /// Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00Z); local 02:30 happens twice.
    @Test func fallBackInBerlin() throws {
        let c = try Self.calendar("Europe/Berlin")
        let cases: [(Int64, String)] = [
            (Self.utc(2026, 10, 24, 21, 59), "2026-10-24"), // 23:59 CEST
            (Self.utc(2026, 10, 24, 22, 0), "2026-10-25"),  // 00:00 CEST
            (Self.utc(2026, 10, 24, 22, 30), "2026-10-25"), // 00:30 CEST
            (Self.utc(2026, 10, 24, 23, 30), "2026-10-25"), // 01:30 CEST
            (Self.utc(2026, 10, 25, 0, 30), "2026-10-25"),  // 02:30 CEST
            (Self.utc(2026, 10, 25, 1, 30), "2026-10-25"),  // 02:30 CET
            (Self.utc(2026, 10, 25, 2, 30), "2026-10-25"),  // 03:30 CET
            (Self.utc(2026, 10, 25, 22, 59), "2026-10-25"), // 23:59 CET
            (Self.utc(2026, 10, 25, 23, 0), "2026-10-26"),  // 00:00 CET
        ]
        for (t, day) in cases { #expect(c.bucket(.daily, of: t) == day, "\(t)") }
    }

    /// The daily tier across the fall-back hour: both 02:30s are one day, the newest wins.
    @Test func bothLocal0230sAreOneDay() {
        let times = [Self.utc(2026, 10, 24, 21, 30), Self.utc(2026, 10, 25, 0, 30), Self.utc(2026, 10, 25, 1, 30)]
        let input = Self.history(times)
        let plan = Retention.evaluate(RetentionPolicy(daily: 2, weekly: 0, monthly: 0, pitrDays: 0, minFullChains: 0,
                                                      timeZone: "Europe/Berlin"), input)
        #expect(plan.decisions.map(\.keep) == [true, false, true])
        #expect(plan.decisions[0].reasons == ["daily 2026-10-24"])
        #expect(plan.decisions[2].reasons.contains("daily 2026-10-25"))
    }

    @Test(arguments: [
        (Self.utc(2026, 12, 31, 12), "2026-W53"),
        (Self.utc(2027, 1, 1, 12), "2026-W53"),
        (Self.utc(2027, 1, 3, 23, 59), "2026-W53"),
        (Self.utc(2027, 1, 4, 0, 0), "2027-W01"),
        (Self.utc(2026, 12, 28, 0, 0), "2026-W53"),
        (Self.utc(2026, 12, 27, 23, 59), "2026-W52"),
        (Self.utc(2021, 1, 3, 12), "2020-W53"),
        (Self.utc(2021, 1, 4, 0), "2021-W01"),
        (Self.utc(2024, 12, 30, 12), "2025-W01"),
        (Self.utc(2024, 12, 29, 12), "2024-W52"),
        (Self.utc(2028, 1, 2, 12), "2027-W52"),
    ])
    func isoWeeks(_ t: Int64, _ week: String) throws {
        #expect(try Self.calendar(nil).bucket(.weekly, of: t) == week)
    }

    /// Week 53 as a retention bucket: a backup on its Monday and one on its Sunday are one week.
    @Test func week53IsOneBucket() {
        let times = [Self.utc(2026, 12, 28, 3), Self.utc(2027, 1, 3, 3), Self.utc(2027, 1, 4, 3)]
        let plan = Retention.evaluate(RetentionPolicy(daily: 0, weekly: 2, monthly: 0, pitrDays: 0, minFullChains: 0),
                                      Self.history(times))
        #expect(plan.decisions.map(\.keep) == [false, true, true])
        #expect(plan.decisions[1].reasons.contains("weekly 2026-W53"))
        #expect(plan.decisions[2].reasons.contains("weekly 2027-W01"))
    }

    @Test func leapDays() throws {
        for zone in [nil, "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"] {
            let c = try Self.calendar(zone)
            // Every offset here is under 12 h: noon UTC is the same day everywhere.
            #expect(c.bucket(.daily, of: Self.utc(2028, 2, 29, 12)) == "2028-02-29", "\(zone ?? "UTC")")
            #expect(c.bucket(.monthly, of: Self.utc(2028, 2, 29, 12)) == "2028-02", "\(zone ?? "UTC")")
        }
        let utc = try Self.calendar(nil)
        #expect(utc.bucket(.daily, of: Self.utc(2028, 2, 29, 23, 59)) == "2028-02-29")
        #expect(utc.bucket(.daily, of: Self.utc(2028, 3, 1)) == "2028-03-01")
        #expect(utc.bucket(.daily, of: Self.utc(2027, 2, 28, 23, 59) + 60) == "2027-03-01")
        // Berlin is UTC+1 in February: 2028-02-28T23:30Z is already the leap day there.
        #expect(try Self.calendar("Europe/Berlin").bucket(.daily, of: Self.utc(2028, 2, 28, 23, 30)) == "2028-02-29")
    }

    /// 2026-12-31T23:30Z is 2027-01-01 00:30 in Berlin: day, month and year are 2027's there.
    @Test func yearEndsEastAndWestOfUTC() throws {
        let t = Self.utc(2026, 12, 31, 23, 30)
        let berlin = try Self.calendar("Europe/Berlin")
        #expect(berlin.bucket(.daily, of: t) == "2027-01-01")
        #expect(berlin.bucket(.monthly, of: t) == "2027-01")
        #expect(berlin.bucket(.yearly, of: t) == "2027")
        #expect(berlin.bucket(.weekly, of: t) == "2026-W53")
        let utc = try Self.calendar(nil)
        #expect(utc.bucket(.daily, of: t) == "2026-12-31")
        #expect(utc.bucket(.monthly, of: t) == "2026-12")
        #expect(utc.bucket(.yearly, of: t) == "2026")
        let ny = try Self.calendar("America/New_York")
        #expect(ny.bucket(.yearly, of: Self.utc(2027, 1, 1, 4, 59)) == "2026")
        #expect(ny.bucket(.yearly, of: Self.utc(2027, 1, 1, 5, 0)) == "2027")
        let kolkata = try Self.calendar("Asia/Kolkata")
        #expect(kolkata.bucket(.daily, of: Self.utc(2026, 12, 31, 18, 29)) == "2026-12-31")
        #expect(kolkata.bucket(.daily, of: Self.utc(2026, 12, 31, 18, 30)) == "2027-01-01")
        // Lord Howe is UTC+11 in its summer (a half-hour DST shift from +10:30).
        let lordHowe = try Self.calendar("Australia/Lord_Howe")
        #expect(lordHowe.bucket(.yearly, of: Self.utc(2026, 12, 31, 12, 59)) == "2026")
        #expect(lordHowe.bucket(.yearly, of: Self.utc(2026, 12, 31, 13, 0)) == "2027")
    }

    /// Every tier in every zone against the reference, at irregular instants over four years
    /// and every quarter hour of each zone's DST weekends.
    @Test func everyBucketMatchesTheReference() throws {
        for zone in GeneratedHistory.zones {
            let c = try Self.calendar(zone)
            let ref = try #require(ReferenceCalendar(timeZone: zone))
            var instants = Array(stride(from: Self.utc(2025, 1, 1), to: Self.utc(2029, 1, 1), by: 7 * 3600 + 13 * 60 + 7))
            for (y, m, d) in [(2026, 3, 28), (2026, 10, 24), (2026, 3, 7), (2026, 10, 31), (2026, 4, 4), (2026, 10, 3)] as [(Int64, Int64, Int64)] {
                instants += stride(from: Self.utc(y, m, d), to: Self.utc(y, m, d) + 3 * 86_400, by: 900)
            }
            for t in instants {
                for tier in RetentionCalendar.Tier.allCases where c.bucket(tier, of: t) != ref.bucket(tier, of: t) {
                    Issue.record("\(zone ?? "UTC") \(tier) at \(t): \(c.bucket(tier, of: t)) != \(ref.bucket(tier, of: t))")
                }
            }
        }
    }

    @Test func anUnknownZoneHoldsEverything() {
        #expect(RetentionCalendar(timeZone: "Mars/Olympus_Mons") == nil)
        let input = Self.history([Self.utc(2026, 11, 1, 3), Self.utc(2026, 11, 2, 3), Self.utc(2026, 11, 3, 3)])
        let plan = Retention.evaluate(RetentionPolicy(daily: 1, weekly: 0, monthly: 0, pitrDays: 0, minFullChains: 0,
                                                      timeZone: "Mars/Olympus_Mons"), input)
        #expect(plan.hold?.contains("Mars/Olympus_Mons") == true)
        #expect(plan.decisions.allSatisfy { $0.keep })
        #expect(plan.deletedWAL.isEmpty)
        #expect(plan.bytesFreed == 0)
    }

    /// Full backups at `times` on timeline 1, two segments each, WAL continuous; now is just after the last.
    static func history(_ times: [Int64]) -> RetentionInput {
        let size = GeneratedHistory.size
        var backups: [RetentionBackup] = []
        for (i, t) in times.enumerated() {
            let start = LSN(UInt64(i * 4) * size.rawValue)
            backups.append(RetentionBackup(id: "b\(i)", type: .full, parent: nil, endTime: t, timeline: TimelineID(1),
                                           stopTimeline: TimelineID(1), startLSN: start, stopLSN: LSN(start.rawValue + size.rawValue), storedBytes: 10))
        }
        var segments: [SegmentNumber: Int64] = [:]
        for s in 0..<SegmentNumber(times.count * 4) { segments[s] = 1 }
        let last = times.max() ?? 0
        return RetentionInput(backups: backups, segments: [TimelineID(1): segments], graph: TimelineGraph(histories: []),
                              segmentSize: size, lastCommit: [TimelineID(1): last], now: last + 3600)
    }
}
