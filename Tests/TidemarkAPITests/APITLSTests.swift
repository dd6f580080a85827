import Foundation
import Logging
import Testing
import TidemarkAPI
import TidemarkCore
import TidemarkServer
import TidemarkTesting

/// With `api.tls` the server speaks TLS only (HummingbirdTLS): curl trusting the test's own
/// certificate gets the API's JSON answers; plain HTTP gets none.
@Suite("Admin API over TLS", .serialized)
struct APITLSTests {
    @Test(.timeLimit(.minutes(2)))
    func servesTheAPIOverTLSOnly() async throws {
        let f = try await APIFixture()
        let token = try await f.token("ops", .operate)
        let cert = f.scratch.path + "/tls.crt", key = f.scratch.path + "/tls.key"
        let made = try await ChildProcess.run(Command("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ], timeout: .seconds(60)))
        try #require(made.exitCode == 0, "\(made)")
        var env = f.environment()
        env.settings = APISettings(cronSecret: nil, tls: (certFile: cert, keyFile: key))
        let metrics = MetricsHTTPServer(configuration: HTTPListenConfiguration(host: "127.0.0.1", port: 0, token: Secret(Array("metrics-token-0123456789".utf8))),
                                        metrics: ServiceMetrics(stanza: "main"), health: { nil }, logger: Logger(label: "api-tls-test"))
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let server = APIHTTPServer(metrics: metrics, env: env, onListening: { continuation.yield($0) })
        let task = Task { try await server.run() }
        defer { task.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        let url = "https://127.0.0.1:\(port)/api/admin/backup/list"
        let secure = try await ChildProcess.run(Command("/usr/bin/curl", ["-s", "--cacert", cert, "-H", "Authorization: Bearer \(token)", url],
                                                        timeout: .seconds(30)))
        #expect(secure.exitCode == 0, "\(secure)")
        #expect(secure.stdoutText.contains("\"backups\""), "\(secure)")
        let anonymous = try await ChildProcess.run(Command("/usr/bin/curl", ["-s", "--cacert", cert, url], timeout: .seconds(30)))
        #expect(anonymous.stdoutText.contains("missing bearer token"), "\(anonymous)")
        let plain = try await ChildProcess.run(Command("/usr/bin/curl", ["-s", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}",
                                                                         "http://127.0.0.1:\(port)/api/admin/backup/list"], timeout: .seconds(30)))
        #expect(plain.stdoutText != "200" && plain.stdoutText != "401", "plain HTTP gets no answer: \(plain)")
        task.cancel()
        _ = await task.result
    }
}
