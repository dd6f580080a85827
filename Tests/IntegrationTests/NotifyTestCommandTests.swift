import Foundation
import Testing
import TidemarkTesting

/// `tidemark notify test` from the executable against a real aiosmtpd and an HTTP receiver:
/// every channel gets the test message and says so; one channel at a time; a channel that keeps
/// failing makes it exit 7 naming it and why, without the webhook URL; an unknown one is exit 3.
@Suite("tidemark notify test")
struct NotifyTestCommandTests {
    @Test(.timeLimit(.minutes(5)))
    func everyChannelIsTriedAndReported() async throws {
        let smtp = try await SMTPServerFixture.start()
        defer { smtp.stop() }
        let receiver = try await HTTPReceiverFixture.start()
        defer { receiver.stop() }
        let failing = try await HTTPReceiverFixture.start(failFirst: 1000)
        defer { failing.stop() }
        let scratch = try ScratchDirectory(prefix: "tidemark-notify")
        let binary = try TidemarkBinary.install()
        func config(slack: String) throws -> String {
            let path = scratch.child("tidemark-\(UInt32.random(in: 0...UInt32.max)).json")
            let object: [String: Any] = [
                "repositories": [["name": "local", "type": "posix", "path": scratch.child("repo")]],
                "notifications": [
                    "slack": ["webhookUrl": slack],
                    "email": ["recipients": ["dba@example.org", "oncall@example.org"]],
                    "webhook": ["url": receiver.baseURL + "/tidemark-events"],
                ],
                "smtp": ["host": "127.0.0.1", "port": Int(smtp.port), "from": "tidemark@example.org"],
                "serve": ["stateDirectory": scratch.child("state")],
            ]
            try FileManager.default.writeFile(path, try JSONSerialization.data(withJSONObject: object), mode: 0o600, owner: nil)
            return path
        }
        let tidemark = TidemarkRunner(binary: binary, environment: ["HOME": scratch.path], user: nil)
        let good = try config(slack: receiver.baseURL + "/services/T0/B0/secret-path")

        let all = try await tidemark.run("--config", good, "notify", "test")
        #expect(all.exitCode == 0, "\(all)")
        for channel in ["slack", "email", "webhook"] {
            #expect(all.stdoutText.contains("\(channel): delivered in"), "\(channel) reported: \(all.stdoutText)")
        }
        let requests = try receiver.requests()
        #expect(requests.contains { $0.path == "/services/T0/B0/secret-path" && $0.bodyText.contains("test message") })
        #expect(requests.contains { $0.path == "/tidemark-events" && $0.bodyText.contains("\"kind\":\"test\"") },
                "the webhook gets the notification as JSON: \(requests.map(\.bodyText))")
        let mails = try smtp.received()
        #expect(mails.count == 1 && Set(mails.first?.recipients ?? []) == ["dba@example.org", "oncall@example.org"],
                "one mail to both recipients: \(mails.map(\.recipients))")
        #expect(mails.first?.subject.contains("test message") == true)

        let one = try await tidemark.run("--config", good, "notify", "test", "--channel", "webhook")
        #expect(one.exitCode == 0)
        #expect(one.stdoutText.split(separator: "\n").count == 1 && one.stdoutText.hasPrefix("webhook: delivered"), "\(one.stdoutText)")
        #expect(try smtp.received().count == 1, "--channel webhook sends no mail")

        let bad = try config(slack: failing.baseURL + "/services/T0/B0/secret-path")
        let failed = try await tidemark.run("--config", bad, "notify", "test")
        #expect(failed.exitCode == 7, "\(failed)")
        #expect(failed.stdoutText.contains("slack: FAILED"), "\(failed.stdoutText)")
        #expect(failed.stdoutText.contains("email: delivered"), "the other channels still deliver: \(failed.stdoutText)")
        #expect(!(failed.stdoutText + failed.stderrText).contains("secret-path"), "the webhook URL is a secret")

        let unknown = try await tidemark.run("--config", good, "notify", "test", "--channel", "pager")
        #expect(unknown.exitCode == 3, "\(unknown)")
        #expect(unknown.stderrText.contains("slack, email, webhook"), "the configured channels are named: \(unknown.stderrText)")
    }
}
