import Foundation
import Testing
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

/// The admin API against its OpenAPI document: schemathesis (pinned by scripts/lib.sh's
/// tm_ensure_schemathesis) fuzzes every route of docs/api/openapi.yaml, with valid and invalid
/// inputs, against a real `tidemark serve` over a real PostgreSQL 15 and a repository holding a
/// backup, with an operate token: no 5xx, every answer in the schema, every status documented,
/// auth enforced, unsupported methods refused. The run is bounded (examples per operation, a
/// seed) to stay under two minutes.
@Suite("Admin API against its OpenAPI document", .serialized)
struct APISchemathesisTests {
    static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    static func python() -> String {
        let env = ProcessInfo.processInfo.environment
        var dirs = (env["PATH"] ?? "").split(separator: ":").map(String.init)
        if let home = env["HOME"] { dirs += [home + "/.pyenv/shims", home + "/.local/bin"] }
        dirs += ["/usr/local/bin", "/usr/bin"]
        for dir in dirs where access(dir + "/python3", X_OK) == 0 { return dir + "/python3" }
        return "/usr/bin/python3"
    }

    @Test(.timeLimit(.minutes(10)))
    func everyRouteConformsToTheDocument() async throws {
        let cluster = try await BackupTestCluster(prefix: "tidemark-api")
        defer { cluster.stop() }
        try await cluster.backup("full")
        let state = try cluster.makeServerDirectory("state")
        let port = try FreePort.loopback()
        let configPath = cluster.scratch.child("tidemark.json")
        let config: [String: Any] = [
            "schedule": ["defaults": false, "dailySummary": "", "weeklyReport": ""],
            "serve": ["listen": "127.0.0.1:\(port)", "stateDirectory": state, "dataDirectory": cluster.server.dataDirectory],
            "audit": ["mirrorPath": cluster.scratch.child("audit.jsonl")],
        ]
        try FileManager.default.writeFile(configPath, try JSONSerialization.data(withJSONObject: config), mode: 0o600, owner: cluster.user)
        let tidemark = cluster.tidemark.with(environment: ["TIDEMARK_CONFIG": configPath, "CRON_SECRET": "cron-secret-0123456789abcdef"])
        let created = try await tidemark.run("token", "create", "--name", "fuzz", "--scope", "operate")
        try #require(created.exitCode == 0, "\(created)")
        let token = created.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.hasPrefix("tmk_") && !created.stderrText.contains(token), "the token alone on stdout, notes on stderr")

        var serveCommand = tidemark.command(["serve"])
        serveCommand.timeout = .seconds(600)
        let serve = try ChildProcess(launching: serveCommand)
        defer { serve.send(SIGTERM); _ = try? serve.waitBlocking() }
        let base = "http://127.0.0.1:\(port)"
        var up = false
        for _ in 0..<100 where !up {
            let probe = try await ChildProcess.run(Command("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}",
                                                                             "-H", "Authorization: Bearer \(token)", base + "/api/status"],
                                                           timeout: .seconds(30)))
            up = probe.stdoutText == "200"
            if !up { try await Task.sleep(for: .milliseconds(200)) }
        }
        try #require(up, "serve answered /api/status")

        let settings = cluster.scratch.child("schemathesis.toml")
        // A valid request the planner cannot satisfy (an instant outside every window, a backup
        // id that does not exist) is 422, documented; everything else keeps its default.
        // Schemathesis's own Authorization values are all wrong tokens, which the rate limit
        // answers 429 after ten (APIRouteTests proves that): it sends ours only, and still
        // probes each route without a token and with a wrong one (ignored_auth).
        try Data("""
            [generation]
            with-security-parameters = false

            [checks.positive_data_acceptance]
            expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
            """.utf8).write(to: URL(fileURLWithPath: settings))
        let report = cluster.scratch.child("schemathesis-report")
        var environment: [String: String] = ["PYTHONUNBUFFERED": "1", "NO_COLOR": "1"]
        for n in ["PATH", "HOME", "PYENV_ROOT", "PYENV_VERSION", "PYTHONPATH", "VIRTUAL_ENV"] {
            if let v = ProcessInfo.processInfo.environment[n] { environment[n] = v }
        }
        let run = try await ChildProcess.run(Command(Self.python(), [
            "-c", "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'schemathesis'; schemathesis()",
            "--config-file", settings, "run", Self.repositoryRoot + "/docs/api/openapi.yaml",
            "--url", base, "-H", "Authorization: Bearer \(token)",
            "--checks", "all", "--max-examples", "12", "--seed", "20261203", "--workers", "1",
            "--phases", "examples,coverage,fuzzing", "--max-time", "100", "--request-timeout", "30",
            "--report", "junit", "--report-dir", report,
        ], environment: environment, currentDirectory: cluster.scratch.path, timeout: .seconds(240)))
        let output = run.stdoutText + run.stderrText
        #expect(run.exitCode == 0, "schemathesis found failures:\n\(output.suffix(12000))")
        #expect(output.contains("/api/admin/backup/restore") && output.contains("/api/jobs/{id}"), "every route ran:\n\(output.suffix(4000))")
        let refused = try await ChildProcess.run(Command("/usr/bin/curl", ["-s", "-H", "Authorization: Bearer \(token)", "-H", "Content-Type: application/json",
                                                                          "-d", #"{"type":"database"}"#, base + "/api/admin/backup/restore"],
                                                         timeout: .seconds(30)))
        #expect(refused.stdoutText.contains("restores run on the host: tidemark restore"), "\(refused)")
    }
}
