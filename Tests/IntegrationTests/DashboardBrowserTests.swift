import Foundation
import Testing
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

/// The dashboard in a real browser: Debian's chromium and chromedriver with Selenium (pinned
/// by scripts/lib.sh's tm_ensure_browser), driven by scripts/test-browser/dashboard.py
/// against a real `tidemark serve` over a real PostgreSQL 15 and a repository holding a full
/// backup: a wrong token is refused, the right one logs in, the backup is listed, "create
/// incremental" runs as a job whose page refreshes itself until done, the new backup is in the
/// list, a restore point made before is pinned on the timeline; the screenshot is saved as .build/test-artifacts/dashboard.png.
@Suite("Dashboard in a real browser", .serialized)
struct DashboardBrowserTests {
    @Test(.timeLimit(.minutes(5)))
    func logInCreateAnIncrementalAndSeeIt() async throws {
        let cluster = try await BackupTestCluster(prefix: "tidemark-dash")
        defer { cluster.stop() }
        try await cluster.backup("full")
        // A named restore point, archived: the timeline pins it (DashboardRestorePoints).
        _ = try await cluster.server.psql("select pg_create_restore_point('before-migration')")
        let holding = try await cluster.server.switchWAL()
        var archived = false
        for _ in 0..<300 where !archived {
            archived = try await cluster.server.psql("select coalesce(last_archived_wal, '') from pg_stat_archiver") >= holding
            if !archived { try await Task.sleep(for: .milliseconds(100)) }
        }
        try #require(archived, "the segment holding the restore point is archived")
        let state = try cluster.makeServerDirectory("state")
        let port = try FreePort.loopback()
        let configPath = cluster.scratch.child("tidemark.json")
        let config: [String: Any] = [
            "schedule": ["defaults": false, "dailySummary": "", "weeklyReport": ""],
            "serve": ["listen": "127.0.0.1:\(port)", "stateDirectory": state, "dataDirectory": cluster.server.dataDirectory],
            "audit": ["mirrorPath": cluster.scratch.child("audit.jsonl")],
        ]
        try FileManager.default.writeFile(configPath, try JSONSerialization.data(withJSONObject: config), mode: 0o600, owner: cluster.user)
        let tidemark = cluster.tidemark.with(environment: ["TIDEMARK_CONFIG": configPath])
        let created = try await tidemark.run("token", "create", "--name", "browser", "--scope", "operate")
        try #require(created.exitCode == 0, "\(created)")
        let token = created.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)

        var serveCommand = tidemark.command(["serve"])
        serveCommand.timeout = .seconds(600)
        let serve = try ChildProcess(launching: serveCommand)
        defer { serve.send(SIGTERM); _ = try? serve.waitBlocking() }
        let base = "http://127.0.0.1:\(port)"
        var up = false
        for _ in 0..<100 where !up {
            let probe = try await ChildProcess.run(Command("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", base + "/admin/login"],
                                                           timeout: .seconds(30)))
            up = probe.stdoutText == "200"
            if !up { try await Task.sleep(for: .milliseconds(200)) }
        }
        try #require(up, "serve answered /admin/login")

        let root = APISchemathesisTests.repositoryRoot
        let screenshot = root + "/.build/test-artifacts/dashboard.png"
        try? FileManager.default.removeItem(atPath: screenshot)
        var environment: [String: String] = ["PYTHONUNBUFFERED": "1", "SE_OFFLINE": "true", "HOME": cluster.scratch.path]
        for n in ["PATH", "PYENV_ROOT", "PYENV_VERSION", "PYTHONPATH", "VIRTUAL_ENV"] {
            if let v = ProcessInfo.processInfo.environment[n] { environment[n] = v }
        }
        if let home = ProcessInfo.processInfo.environment["HOME"] { environment["PYENV_ROOT"] = environment["PYENV_ROOT"] ?? home + "/.pyenv" }
        let run = try await ChildProcess.run(Command(APISchemathesisTests.python(), [root + "/scripts/test-browser/dashboard.py", base, token, screenshot, "before-migration"],
                                                     environment: environment, currentDirectory: cluster.scratch.path, timeout: .seconds(200)))
        let output = run.stdoutText + run.stderrText
        #expect(run.exitCode == 0, "the browser flow broke:\n\(output.suffix(8000))")
        #expect(output.contains("wrong token refused") && output.contains("job succeeded") && output.contains("restore point pinned"),
                "\(output.suffix(4000))")
        let png = FileManager.default.contents(atPath: screenshot) ?? Data()
        #expect(png.count > 1000 && png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]), "the screenshot is a PNG at \(screenshot)")
    }
}
