import Foundation
import Testing
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

/// A whole `tidemark serve` (the binary, its configuration file, a real PostgreSQL 15 and
/// repository) with `api.tls`: the API answers over HTTPS to curl trusting the test's own
/// certificate, plain HTTP gets no answer, the dashboard's session cookie is `Secure`; and a
/// non-loopback address without TLS is refused before anything listens (exit 3).
@Suite("tidemark serve over TLS", .serialized)
struct ServeTLSTests {
    static func curl(_ arguments: [String]) async throws -> ProcessResult {
        try await ChildProcess.run(Command("/usr/bin/curl", ["-s", "--max-time", "10"] + arguments, timeout: .seconds(30)))
    }

    @Test(.timeLimit(.minutes(5)))
    func theAPIAndTheDashboardOverTLS() async throws {
        let cluster = try await BackupTestCluster(prefix: "tidemark-tls")
        defer { cluster.stop() }
        let cert = cluster.scratch.child("tls.crt"), key = cluster.scratch.child("tls.key")
        let made = try await ChildProcess.run(Command("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ], timeout: .seconds(60)))
        try #require(made.exitCode == 0, "\(made)")
        if let user = cluster.user {
            _ = chown(cert, user.uid, user.gid)
            _ = chown(key, user.uid, user.gid)
        }
        chmod(key, 0o600)
        let state = try cluster.makeServerDirectory("state")
        let port = try FreePort.loopback()
        let configPath = cluster.scratch.child("tidemark.json")
        let config: [String: Any] = [
            "schedule": ["defaults": false, "dailySummary": "", "weeklyReport": ""],
            "serve": ["listen": "127.0.0.1:\(port)", "stateDirectory": state, "dataDirectory": cluster.server.dataDirectory],
            "api": ["tls": ["certFile": cert, "keyFile": key]],
            "audit": ["mirrorPath": cluster.scratch.child("audit.jsonl")],
        ]
        try FileManager.default.writeFile(configPath, try JSONSerialization.data(withJSONObject: config), mode: 0o600, owner: cluster.user)
        let tidemark = cluster.tidemark.with(environment: ["TIDEMARK_CONFIG": configPath])
        let created = try await tidemark.run("token", "create", "--name", "tls-reader", "--scope", "read")
        try #require(created.exitCode == 0, "\(created)")
        let token = created.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)

        var serveCommand = tidemark.command(["serve"])
        serveCommand.timeout = .seconds(300)
        let serve = try ChildProcess(launching: serveCommand)
        defer { serve.send(SIGTERM); _ = try? serve.waitBlocking() }
        let https = "https://127.0.0.1:\(port)"
        var status: ProcessResult?
        for _ in 0..<100 {
            let r = try await Self.curl(["--cacert", cert, "-H", "Authorization: Bearer " + token, "-w", "\n%{http_code}", https + "/api/status"])
            if r.stdoutText.hasSuffix("\n200") { status = r; break }
            try await Task.sleep(for: .milliseconds(200))
        }
        let answered = try #require(status, "serve answered /api/status over HTTPS")
        let body = String(answered.stdoutText.dropLast(4))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any], "\(body)")
        #expect(json["pitrWindows"] != nil && json["info"] != nil, "\(body)")

        // Without the certificate curl refuses the connection; plain HTTP gets no HTTP answer.
        let untrusted = try await Self.curl(["-o", "/dev/null", "-w", "%{http_code}", https + "/api/status"])
        #expect(untrusted.exitCode != 0 && untrusted.stdoutText == "000", "\(untrusted)")
        let plain = try await Self.curl(["-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/api/status"])
        #expect(plain.stdoutText != "200" && plain.stdoutText != "401", "\(plain)")
        // A wrong token over TLS: 401 with the JSON error shape.
        let wrong = try await Self.curl(["--cacert", cert, "-H", "Authorization: Bearer tmk_wrong", "-w", "\n%{http_code}", https + "/api/status"])
        #expect(wrong.stdoutText.hasSuffix("\n401") && wrong.stdoutText.contains("\"hint\""), "\(wrong)")

        // The dashboard's login over TLS sets a Secure, HttpOnly, SameSite=Strict cookie.
        let login = try await Self.curl(["--cacert", cert, "-D", "-", "-o", "/dev/null", "--data-urlencode", "token=" + token, https + "/admin/login"])
        let cookie = login.stdoutText.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") }.map(String.init) ?? ""
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Secure"), "\(login.stdoutText)")
    }

    @Test(.timeLimit(.minutes(2)))
    func aNonLoopbackAddressWithoutTLSIsRefused() async throws {
        let cluster = try await BackupTestCluster(prefix: "tidemark-notls")
        defer { cluster.stop() }
        let port = try FreePort.loopback()
        let configPath = cluster.scratch.child("tidemark.json")
        let config: [String: Any] = [
            "schedule": ["defaults": false, "dailySummary": "", "weeklyReport": ""],
            "serve": ["stateDirectory": try cluster.makeServerDirectory("state"), "dataDirectory": cluster.server.dataDirectory],
        ]
        try FileManager.default.writeFile(configPath, try JSONSerialization.data(withJSONObject: config), mode: 0o600, owner: cluster.user)
        let tidemark = cluster.tidemark.with(environment: ["TIDEMARK_CONFIG": configPath])
        let refused = try await tidemark.run("serve", "--listen", "0.0.0.0:\(port)")
        #expect(refused.exitCode == 3, "\(refused)")
        #expect(refused.stderrText.contains("TLS") || refused.stderrText.contains("tls"), "\(refused)")
    }
}
