import Foundation
import Testing
import TidemarkArchiver
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

extension PostgreSQLIntegration {
    /// `tidemark serve` with `archiver.enabled` runs the archiver in its group; a second
    /// `tidemark archiver` for the same socket refuses to start (exit 13); SIGTERM stops the
    /// service and removes the socket.
    @Suite("Resident archiver in serve", .tags(.walArchive))
    struct ArchiverServiceTests {
        @Test(.timeLimit(.minutes(3)))
        func serveRunsTheArchiverAndStopsItOnSIGTERM() async throws {
            let user = try SystemUser.serverUser()
            let scratch = try ScratchDirectory(prefix: "tidemark-it-archiver-serve", mode: 0o755)
            let binary = try TidemarkBinary.install()
            let (_, tidemark) = try await initializedRepository(in: scratch, binary: binary, user: user)
            // A data directory as far as the archiver cares: global/pg_control, pg_wal/archive_status.
            let data = scratch.child("data")
            for dir in [data, data + "/global", data + "/pg_wal", data + "/pg_wal/archive_status"] {
                try FileManager.default.makeDirectory(dir, mode: 0o700, owner: user)
            }
            try FileManager.default.writeFile(data + "/global/pg_control", Data(count: 8192), mode: 0o600, owner: user)
            let state = scratch.child("state")
            try FileManager.default.makeDirectory(state, mode: 0o700, owner: user)
            let port = try FreePort.loopback()
            let tokenFile = scratch.child("metrics.token")
            try FileManager.default.writeFile(tokenFile, Data("archiver-serve-token".utf8), mode: 0o600, owner: user)
            let configPath = scratch.child("tidemark.json")
            let config: [String: Any] = [
                "schedule": ["defaults": false, "dailySummary": "", "weeklyReport": ""],
                "serve": ["listen": "127.0.0.1:\(port)", "metricsTokenFile": tokenFile, "stateDirectory": state,
                          "dataDirectory": data],
                "archiver": ["enabled": true, "rescanSeconds": 1],
            ]
            try FileManager.default.writeFile(configPath, try JSONSerialization.data(withJSONObject: config), mode: 0o600, owner: user)
            let withConfig = tidemark.with(environment: ["TIDEMARK_CONFIG": configPath])
            var command = withConfig.command(["serve", "--log-level", "info"])
            command.timeout = .seconds(120)
            let serve = try ChildProcess(launching: command)
            var ended = false
            defer { if !ended { serve.send(SIGKILL); _ = try? serve.waitBlocking() } }

            // The socket is in the data directory, or (when that path is too long for a socket
            // address, as under a deep TMPDIR) in the short fallback under the temp directory.
            let temps = Set([ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp", "/tmp"])
            let candidates = temps.map { ArchiverSettings.defaultSocketPath(stanza: "main", dataDirectory: data, tempDirectory: $0, uid: user?.uid ?? geteuid()) }
            let deadline = Date().addingTimeInterval(30)
            var listening: String?
            while listening == nil {
                listening = candidates.first { UnixConnection.connect($0) != nil }
                if listening != nil { break }
                if Date() >= deadline {
                    serve.send(SIGKILL)
                    ended = true
                    let output = try await serve.wait()
                    Issue.record("serve's archiver never listened on \(candidates): \(output)")
                    return
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            let socket = listening ?? candidates[0]
            let second = try await withConfig.run("archiver", "--data-directory", data)
            #expect(second.exitCode == 13, "a second archiver: \(second)")
            #expect(second.stderrText.contains("another archiver is running"), "\(second.stderrText)")

            serve.send(SIGTERM)
            let result = try await serve.wait()
            ended = true
            #expect(result.exitCode == 0, "serve after SIGTERM: \(result)")
            #expect(!FileManager.default.fileExists(atPath: socket), "the socket is removed on SIGTERM")
            #expect(result.stderrText.contains("archiver stopped"), "\(result.stderrText)")
        }
    }
}
