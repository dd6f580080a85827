import Foundation
import Testing
import Tidemark
import TidemarkCore
import TidemarkPolicy
import TidemarkTesting
@testable import TidemarkServer

/// The schedule as configured: the guide's defaults, overrides by name, added jobs, and
/// mistakes that name the job and the field.
@Suite("Service settings")
struct ServiceSettingsTests {
    func utc(_ text: String) throws -> Date {
        try #require(ISO8601DateFormatter().date(from: text))
    }

    @Test func theDefaultsAreTheGuides() throws {
        let s = try ScheduleSettings.resolve(nil)
        #expect(s.jobs.map(\.name) == ["incremental", "full", "monthly", "expire", "verify", "rehearse"])
        #expect(s.timeZoneName == "UTC")
        #expect(s.timeZone.secondsFromGMT() == 0)
        #expect(s.catchUp == 6 * 3600)
        let from = try utc("2026-12-02T12:00:00Z")
        func next(_ name: String) throws -> String? {
            try s.job(named: name).schedule.next(after: from).map { ISO8601DateFormatter().string(from: $0) }
        }
        #expect(try next("incremental") == "2026-12-03T03:00:00Z")
        #expect(try next("full") == "2026-12-06T02:00:00Z", "Sunday 02:00")
        #expect(try next("monthly") == "2027-01-01T01:00:00Z")
        #expect(try next("expire") == "2026-12-03T04:00:00Z")
        #expect(try next("verify") == "2026-12-03T05:00:00Z")
        #expect(try next("rehearse") == "2026-12-07T06:00:00Z", "the first Monday of December 2026")
        #expect(try s.job(named: "monthly").kind == .backup(full: true, pinMonths: 12))
        #expect(try s.job(named: "incremental").kind.arguments == ["backup", "--type", "incremental"])
        #expect(try s.job(named: "rehearse").kind.arguments == ["rehearse", "--json"])
    }

    @Test func aJobWithADefaultsNameChangesItAndOthersAreAdded() throws {
        var section = ScheduleSection()
        section.timeZone = "Europe/Berlin"
        var incremental = JobSection()
        incremental.name = "incremental"
        incremental.cron = "0 */6 * * *"
        var rehearse = JobSection()
        rehearse.name = "rehearse"
        rehearse.enabled = false
        var extra = JobSection()
        extra.name = "verify-full"
        extra.type = "verify"
        extra.full = true
        extra.cron = "0 5 * * 6"
        extra.timeoutMinutes = 600
        section.jobs = [incremental, rehearse, extra]
        let s = try ScheduleSettings.resolve(section)
        #expect(s.jobs.map(\.name) == ["incremental", "full", "monthly", "expire", "verify", "rehearse", "verify-full"])
        let inc = try s.job(named: "incremental")
        #expect(inc.kind == .backup(full: false, pinMonths: nil), "the type is kept from the default")
        #expect(inc.cron.description == "0 */6 * * *")
        #expect(inc.timeout == .seconds(240 * 60))
        #expect(try s.job(named: "rehearse").enabled == false)
        #expect(try s.job(named: "verify-full").kind.arguments == ["verify", "--full"])
        // 05:00 in Berlin is 04:00 UTC in winter.
        let next = try s.job(named: "verify-full").schedule.next(after: try utc("2026-12-02T12:00:00Z"))
        #expect(next == (try utc("2026-12-05T04:00:00Z")))
    }

    @Test func noDefaultsMeansOnlyTheConfiguredJobs() throws {
        var section = ScheduleSection()
        section.defaults = false
        var j = JobSection()
        j.name = "nightly"
        j.type = "backup"
        j.backupType = "full"
        j.cron = "* * * * *"
        section.jobs = [j]
        #expect(try ScheduleSettings.resolve(section).jobs.map(\.name) == ["nightly"])
    }

    @Test func mistakesNameTheJobAndTheFix() throws {
        func message(_ change: (inout JobSection) -> Void) -> String {
            var j = JobSection()
            j.name = "nightly"
            j.type = "backup"
            j.backupType = "full"
            j.cron = "0 3 * * *"
            change(&j)
            var section = ScheduleSection()
            section.jobs = [j]
            do {
                _ = try ScheduleSettings.resolve(section)
                return "no error"
            } catch let e as TidemarkError {
                #expect(e.code == .configuration)
                return e.message + " | " + e.hints.joined(separator: " | ")
            } catch {
                return "\(error)"
            }
        }
        #expect(message { $0.cron = "0 25 * * *" }.contains("schedule job 'nightly'"))
        #expect(message { $0.cron = "0 25 * * *" }.contains("hour"))
        #expect(message { $0.type = "vacuum" }.contains("backup, expire, verify or rehearse"))
        #expect(message { $0.backupType = "differential" }.contains("full or incremental"))
        #expect(message { $0.cron = nil }.contains("no cron expression"))
        #expect(message { $0.timeoutMinutes = 0 }.contains("timeoutMinutes"))
        #expect(message { $0.name = "bad name!" }.contains("letters, digits"))
        var zone = ScheduleSection()
        zone.timeZone = "Mars/Olympus"
        #expect(throws: TidemarkError.self) { try ScheduleSettings.resolve(zone) }
    }

    @Test func listenAddresses() throws {
        #expect(try ServiceSettings.parseListen("127.0.0.1:8470") == ("127.0.0.1", 8470))
        #expect(try ServiceSettings.parseListen("[::1]:9000") == ("::1", 9000))
        #expect(throws: TidemarkError.self) { try ServiceSettings.parseListen("127.0.0.1") }
    }

    @Test func theStateSurvivesARoundTripAndUpdatesAreSerialised() async throws {
        let dir = try ScratchDirectory(prefix: "tidemark-state")
        let store = ServiceStateStore(directory: dir.child("state"), stanza: "main")
        #expect(try store.load() == ServiceState())
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try? await store.update { s in
                        var r = s.jobs["nightly"] ?? ServiceState.JobRecord()
                        r.runs["succeeded", default: 0] += 1
                        s.jobs["nightly"] = r
                    }
                }
            }
        }
        #expect(try store.load().jobs["nightly"]?.runs["succeeded"] == 20, "no update is lost")
        var st = stat()
        #expect(stat(store.path, &st) == 0 && st.st_mode & 0o777 == 0o600)
    }

    @Test func aFailureMessageSaysWhatItMeansForRecovery() throws {
        let m = ServiceMessages(stanza: "main", host: "db1")
        let t = try utc("2026-12-02T03:00:00Z")
        var r = JobResult(job: "incremental", outcome: .failed, exitCode: 7, error: "unable to connect to the server",
                          hints: ["check the server is running"], scheduledFor: t, started: t, finished: t.addingTimeInterval(2), late: true)
        r.output = ""
        let outlook = RecoveryOutlook(newestBackup: try utc("2026-12-01T03:00:05Z"), pitrUntil: try utc("2026-12-02T02:59:00Z"),
                                      windowStart: try utc("2026-11-25T03:00:00Z"))
        let n = m.jobFailed(r, type: "backup (incremental)", outlook: outlook, now: t)
        #expect(n.title == "tidemark main@db1: backup (incremental) job 'incremental' failed")
        #expect(n.body.contains("unable to connect to the server"))
        #expect(n.body.contains("HINT: check the server is running"))
        #expect(n.body.contains("no new restore point since 2026-12-01T03:00:05Z"))
        #expect(n.body.contains("PITR still possible from 2026-11-25T03:00:00Z"))
        #expect(n.body.contains("up to 2026-12-02T02:59:00Z"))
        #expect(n.body.contains("late"))
        #expect(n.incidentKey == "job.incremental")
    }
}
