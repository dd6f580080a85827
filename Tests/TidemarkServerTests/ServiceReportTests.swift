import Foundation
import Testing
import Tidemark
import TidemarkCore
import TidemarkPolicy
@testable import TidemarkServer

/// The daily summary and the weekly report: what they count and say.
@Suite("Service reports")
struct ServiceReportTests {
    let messages = ServiceMessages(stanza: "main", host: "db1")

    func utc(_ text: String) throws -> Date { try #require(ISO8601DateFormatter().date(from: text)) }

    func entry(_ id: String, _ type: String, stop: String, size: Int64, stored: Int64) throws -> BackupListEntry {
        let json = """
        {"id":"\(id)","type":"\(type)","parent":null,"label":"","startTime":"\(stop)","stopTime":"\(stop)","startLSN":"0/2000028",
         "stopLSN":"0/2000100","timeline":1,"size":\(size),"storedSize":\(stored),"durationSeconds":12.0,"postgresVersion":150000,
         "systemIdentifier":"7300000000000000000","repository":"local"}
        """
        return try JSONDecoder().decode(BackupListEntry.self, from: Data(json.utf8))
    }

    @Test func theWeeklyReportCountsTheWeeksBackupsAndTheGrowth() throws {
        let now = try utc("2026-12-07T08:00:00Z")
        let backups = [
            try entry("20261120-020000F", "full", stop: "2026-11-20 02:00:12+00", size: 1 << 30, stored: 300 << 20),
            try entry("20261206-020000F", "full", stop: "2026-12-06 02:00:12+00", size: 1 << 30, stored: 310 << 20),
            try entry("20261207-030000I", "incremental", stop: "2026-12-07 03:00:12+00", size: 1 << 30, stored: 20 << 20),
        ]
        let storage = [
            ServiceState.StorageSample(time: try utc("2026-11-30T08:00:00Z"), bytes: ["local": 1_000 << 20]),
            ServiceState.StorageSample(time: try utc("2026-12-07T07:59:00Z"), bytes: ["local": 1_330 << 20]),
        ]
        let report = WeeklyReport(backups: backups, storage: storage,
                                  outlook: RecoveryOutlook(newestBackup: try utc("2026-12-07T03:00:12Z"), pitrUntil: try utc("2026-12-07T07:55:00Z"),
                                                           windowStart: try utc("2026-11-30T02:00:00Z")),
                                  lastRehearsalRTOSeconds: 95, lastRehearsal: try utc("2026-12-07T06:10:00Z"), openIncidents: [])
        let n = report.notification(messages, now: now)
        #expect(n.title == "tidemark main@db1: weekly report: 2 backup(s)", "only the last seven days count")
        #expect(n.body.contains("(1 full, 1 incremental)"))
        #expect(n.body.contains("20261207-030000I incremental"))
        #expect(!n.body.contains("20261120-020000F"))
        #expect(n.body.contains("- local: 1.2 GiB (+330.0 MiB since 2026-11-30T08:00:00Z)"), "\(n.body)")
        #expect(n.body.contains("RTO 95.0 s"))
        #expect(n.body.contains("No open problems."))
    }

    @Test func theDailySummaryListsSuccessesAndWhatIsStillOpen() throws {
        let now = try utc("2026-12-07T08:00:00Z")
        let successes = [ServiceState.Success(job: "incremental", finished: try utc("2026-12-07T03:00:40Z"), durationSeconds: 40,
                                              detail: "backup 20261207-030000I")]
        let n = messages.dailySummary(successes, openIncidents: ["no successful backup for 30 hours"],
                                      outlook: RecoveryOutlook(), now: now)
        #expect(n.kind == .summary)
        #expect(n.severity == .warning, "an open problem makes the summary a warning")
        #expect(n.body.contains("- incremental at 2026-12-07T03:00:40Z in 40.0 s: backup 20261207-030000I"))
        #expect(n.body.contains("Still open:\n- no successful backup for 30 hours"))
        #expect(n.body.contains("there is no backup to restore from"))
    }
}
