import Foundation
import Testing
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

/// `tidemark serve` with a schedule of every minute against a real PostgreSQL 15, a real
/// aiosmtpd and an HTTP receiver standing in for Slack: jobs run; PostgreSQL stopped makes the
/// job fail, which produces exactly one Slack message and one mail with the error and its HINT
/// (the second failure is suppressed); PostgreSQL started again brings one "works again" on
/// each; /metrics shows the outcomes behind its token; the audit chain verifies; SIGTERM in the
/// middle of a backup stops the service with no job left running and no backup published.
@Suite("tidemark serve end to end", .serialized)
struct ServeEndToEndTests {
    struct ScheduleJSON: Decodable {
        struct Job: Decodable {
            struct Last: Decodable { var outcome: String }
            var name: String
            var last: Last?
        }
        var jobs: [Job]
    }

    struct StateJSON: Decodable {
        struct Job: Decodable {
            var lastOutcome: String?
            var lastStarted: String?
            var runs: [String: Int]
            var pid: Int32?
        }
        var jobs: [String: Job]
    }

    @Test(.timeLimit(.minutes(15)))
    func scheduleFailureRecoveryMetricsAuditAndShutdown() async throws {
        let cluster = try await BackupTestCluster(prefix: "tidemark-serve")
        defer { cluster.stop() }
        let smtp = try await SMTPServerFixture.start()
        defer { smtp.stop() }
        let slack = try await HTTPReceiverFixture.start()
        defer { slack.stop() }
        let state = try cluster.makeServerDirectory("state")
        let port = try FreePort.loopback()
        let token = "metrics-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let tokenFile = cluster.scratch.child("metrics.token")
        try FileManager.default.writeFile(tokenFile, Data(token.utf8), mode: 0o600, owner: cluster.user)
        let configPath = cluster.scratch.child("tidemark.json")
        func writeConfig(checkpoint: String) throws {
            let config: [String: Any] = [
                "checkpoint": checkpoint,
                "schedule": [
                    "defaults": false, "dailySummary": "", "weeklyReport": "",
                    "jobs": [["name": "nightly", "type": "backup", "backupType": "full", "cron": "* * * * *", "timeoutMinutes": 10]],
                ],
                "alerts": ["checkIntervalSeconds": 5],
                "notifications": [
                    "slack": ["webhookUrl": slack.baseURL + "/services/T000/B000/secret"],
                    "email": ["recipients": ["dba@example.org"]],
                ],
                "smtp": ["host": "127.0.0.1", "port": Int(smtp.port), "from": "tidemark@example.org"],
                "serve": ["listen": "127.0.0.1:\(port)", "metricsTokenFile": tokenFile, "stateDirectory": state,
                          "dataDirectory": cluster.server.dataDirectory],
                "audit": ["mirrorPath": cluster.scratch.child("audit.jsonl")],
            ]
            let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
            try? FileManager.default.removeItem(atPath: configPath)
            try FileManager.default.writeFile(configPath, data, mode: 0o600, owner: cluster.user)
        }
        try writeConfig(checkpoint: "fast")
        let tidemark = cluster.tidemark.with(environment: ["TIDEMARK_CONFIG": configPath])

        func jobState() throws -> StateJSON.Job? {
            guard let data = FileManager.default.contents(atPath: state + "/main.state.json") else { return nil }
            return try JSONDecoder().decode(StateJSON.self, from: data).jobs["nightly"]
        }
        func waitFor(_ what: String, seconds: Double, _ condition: () throws -> Bool) async throws {
            let until = Date().addingTimeInterval(seconds)
            while Date() < until {
                if try condition() { return }
                try await Task.sleep(for: .seconds(1))
            }
            Issue.record("timed out after \(Int(seconds)) s waiting for \(what); job state: \(String(describing: try? jobState()))")
            throw TestingError(.processTimedOut, what)
        }
        func failureMessages() throws -> (slack: [String], mail: [SMTPServerFixture.Received]) {
            (try slack.requests().map(\.bodyText).filter { $0.contains("'nightly' failed") },
             try smtp.received().filter { $0.subject.contains("'nightly' failed") })
        }
        func recoveryMessages() throws -> (slack: [String], mail: [SMTPServerFixture.Received]) {
            (try slack.requests().map(\.bodyText).filter { $0.contains("'nightly' works again") },
             try smtp.received().filter { $0.subject.contains("'nightly' works again") })
        }

        var serveCommand = tidemark.command(["serve", "--log-level", "info"])
        serveCommand.timeout = .seconds(900)
        let serve = try ChildProcess(launching: serveCommand)
        var serveEnded = false
        defer { if !serveEnded { serve.send(SIGKILL); _ = try? serve.waitBlocking() } }

        // 1. The job runs on the minute and succeeds.
        try await waitFor("the first successful run", seconds: 150) { (try jobState()?.runs["succeeded"] ?? 0) >= 1 }
        let schedule = try await tidemark.run("schedule", "--json")
        try #require(schedule.exitCode == 0, "\(schedule)")
        let view = try JSONDecoder().decode(ScheduleJSON.self, from: schedule.stdout)
        #expect(view.jobs.map(\.name) == ["nightly"])
        #expect(view.jobs.first?.last?.outcome == "succeeded")

        // 2. PostgreSQL stopped: the next run fails, and so does the one after it; one message each way.
        cluster.stop()
        try await waitFor("two failed runs", seconds: 200) { (try jobState()?.runs["failed"] ?? 0) >= 2 }
        try await waitFor("the failure notification", seconds: 60) {
            let m = try failureMessages()
            return !m.slack.isEmpty && !m.mail.isEmpty
        }
        let failures = try failureMessages()
        #expect(failures.slack.count == 1, "one Slack message per incident: \(failures.slack)")
        #expect(failures.mail.count == 1, "one mail per incident: \(failures.mail.map(\.subject))")
        for text in failures.slack + failures.mail.map(\.body) {
            #expect(text.contains("HINT:"), "the message carries the HINT: \(text)")
            #expect(text.contains("What it means for recovery"), "the message says what it means for recovery: \(text)")
            #expect(!text.contains("/services/T000/B000/secret"), "the webhook URL is a secret: \(text)")
        }
        let mailBody = failures.mail.first?.body ?? ""
        #expect(mailBody.lowercased().contains("connect") || mailBody.contains("server"),
                "the mail has the backup's error: \(mailBody)")

        // 3. PostgreSQL back: the next run succeeds and one "works again" follows on each channel.
        try await cluster.server.start()
        let succeededBefore = try jobState()?.runs["succeeded"] ?? 0
        try await waitFor("a successful run after the restart", seconds: 150) { (try jobState()?.runs["succeeded"] ?? 0) > succeededBefore }
        try await waitFor("the recovery notification", seconds: 60) {
            let m = try recoveryMessages()
            return !m.slack.isEmpty && !m.mail.isEmpty
        }
        let recovered = try recoveryMessages()
        #expect(recovered.slack.count == 1 && recovered.mail.count == 1, "\(recovered.slack) \(recovered.mail.map(\.subject))")
        #expect(try failureMessages().slack.count == 1, "no new failure message after the recovery")

        // 4. /metrics behind its token shows the outcomes.
        let scraped = try await ChildProcess.run(Command("/usr/bin/curl", ["-s", "-f", "-H", "Authorization: Bearer \(token)",
                                                                         "http://127.0.0.1:\(port)/metrics"], timeout: .seconds(30)))
        try #require(scraped.exitCode == 0, "GET /metrics: \(scraped)")
        let metrics = scraped.stdoutText
        let failedRuns = metrics.split(separator: "\n").first { $0.hasPrefix("tidemark_job_runs_total{") && $0.contains("job=\"nightly\"") && $0.contains("outcome=\"failed\"") }
        #expect(failedRuns.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 >= 2 } == true, "failed runs in /metrics: \(metrics)")
        #expect(metrics.contains("tidemark_backup_last_success_timestamp_seconds"), "\(metrics)")
        #expect(metrics.contains("tidemark_archive_backlog_segments{"), "the .ready count from the data directory: \(metrics)")
        #expect(metrics.contains("tidemark_archive_segments_behind{"), "the server's WAL position was read: \(metrics)")
        #expect(metrics.contains("tidemark_rpo_seconds{"), "\(metrics)")
        let unauthorized = try await ChildProcess.run(Command("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}",
                                                                              "http://127.0.0.1:\(port)/metrics"], timeout: .seconds(30)))
        #expect(unauthorized.stdoutText == "401", "/metrics without the token: \(unauthorized)")

        // 5. The audit chain holds every job's commands and verifies.
        let audit = try await tidemark.run("audit", "verify")
        #expect(audit.exitCode == 0, "audit verify: \(audit)")

        // 6. SIGTERM in the middle of a backup: a spread checkpoint over many dirty buffers keeps
        //    the next backup busy for minutes.
        let backupsBefore = try await cluster.list().backups.count
        _ = try await cluster.server.pgbench(["-i", "-s", "5"])
        // Away from the minute, when runs start, so that the run after this one reads the new file.
        while !(10...45).contains(Calendar(identifier: .gregorian).component(.second, from: Date())) {
            try await Task.sleep(for: .milliseconds(500))
        }
        try writeConfig(checkpoint: "spread")
        let written = Date()
        try await waitFor("a backup in progress", seconds: 150) {
            guard let j = try jobState(), j.lastOutcome == "running", let text = j.lastStarted,
                  let started = ISO8601DateFormatter().date(from: text) else { return false }
            return started > written
        }
        let childPid = try jobState()?.pid
        try await Task.sleep(for: .seconds(3))
        serve.send(SIGTERM)
        let ended = try await serve.wait()
        serveEnded = true
        #expect(ended.exitCode == 0, "serve stops cleanly on SIGTERM: \(ended)")
        let last = try jobState()
        #expect(last?.lastOutcome == "cancelled", "the stopped job is recorded, not left running: \(String(describing: last))")
        #expect(last?.pid == nil)
        if let childPid { #expect(kill(childPid, 0) != 0, "the job's process is gone") }
        #expect(try await cluster.list().backups.count == backupsBefore, "no half-published backup")
    }
}
