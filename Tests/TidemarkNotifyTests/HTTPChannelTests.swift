import AsyncHTTPClient
import Foundation
import Testing
import TidemarkCore
import TidemarkTesting
@testable import TidemarkNotify

/// Slack, webhook and heartbeat against a real HTTP receiver on loopback.
@Suite("Notify: HTTP channels against a receiver", .tags(.large), .timeLimit(.minutes(2)))
struct HTTPChannelTests {
    /// A path shaped like a Slack webhook's secret part.
    static let secretPath = "/services/T000SECRET/B000SECRET/XXXXsecretTOKENxxxx"

    @Test func slackBody() async throws {
        let receiver = try await HTTPReceiverFixture.start()
        let channel = SlackChannel(url: SecretURL(receiver.baseURL + Self.secretPath), httpClient: .shared)
        try await channel.send(sampleNotification(body: "error <1> & more\nHINT: fix it"))
        let requests = try receiver.requests()
        try #require(requests.count == 1)
        let r = requests[0]
        #expect(r.method == "POST")
        #expect(r.path == Self.secretPath)
        #expect(r.headers["content-type"] == "application/json; charset=utf-8")
        let json = try #require(r.json)
        let text = try #require(json["text"] as? String)
        #expect(text == "*:red_circle: tidemark main@db1: backup 'incremental' failed*\nerror &lt;1&gt; &amp; more\nHINT: fix it")
        let blocks = try #require(json["blocks"] as? [[String: Any]])
        #expect(blocks.map { $0["type"] as? String } == ["header", "section", "section", "context"])
        let header = try #require(blocks[0]["text"] as? [String: Any])
        #expect(header["type"] as? String == "plain_text")
        #expect(header["text"] as? String == ":red_circle: tidemark main@db1: backup 'incremental' failed")
        let fields = try #require(blocks[2]["fields"] as? [[String: Any]])
        #expect(fields.map { $0["text"] as? String } == ["*job*\nincremental", "*stanza*\nmain", "*duration*\n3 s"])
    }

    @Test func slackKeepsItsLimits() throws {
        var n = sampleNotification(title: String(repeating: "t", count: 400), body: String(repeating: "b", count: 5000))
        n.fields = (0..<15).map { .init("f\($0)", "v") }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(SlackChannel.payload(n))) as? [String: Any])
        let blocks = try #require(json["blocks"] as? [[String: Any]])
        let header = try #require(blocks[0]["text"] as? [String: Any])
        #expect((header["text"] as? String)?.count == 150)
        let section = try #require(blocks[1]["text"] as? [String: Any])
        #expect((section["text"] as? String)?.count == 3000)
        #expect((blocks[2]["fields"] as? [Any])?.count == 10)
    }

    @Test func webhookBodyIsTheNotification() async throws {
        let receiver = try await HTTPReceiverFixture.start()
        let n = sampleNotification()
        try await WebhookChannel(url: SecretURL(receiver.baseURL + "/hook?token=abc"), httpClient: .shared).send(n)
        let requests = try receiver.requests()
        try #require(requests.count == 1)
        #expect(requests[0].path == "/hook?token=abc")
        let json = try #require(requests[0].json)
        // The documented field names.
        #expect(Set(json.keys) == ["kind", "severity", "title", "body", "fields", "stanza", "host", "time", "incidentKey"])
        #expect(json["kind"] as? String == "failure")
        #expect(json["severity"] as? String == "critical")
        #expect(json["time"] as? String == "2026-12-02T16:00:00Z")
        #expect(json["incidentKey"] as? String == "main/backup-failed")
        #expect((json["fields"] as? [[String: String]])?.first == ["name": "job", "value": "incremental"])
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        #expect(try decoder.decode(Notification.self, from: Data(requests[0].body)) == n)
    }

    @Test func heartbeatSuccessAndFailPaths() async throws {
        let receiver = try await HTTPReceiverFixture.start()
        let heartbeat = Heartbeat(url: SecretURL(receiver.baseURL + "/ping/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278"), httpClient: .shared)
        try await heartbeat.ping(healthy: true)
        try await heartbeat.ping(healthy: false)
        let withQuery = Heartbeat(url: SecretURL(receiver.baseURL + "/ping/abc/?rid=1"), httpClient: .shared)
        try await withQuery.ping(healthy: false)
        let requests = try receiver.requests()
        #expect(requests.map(\.method) == ["GET", "GET", "GET"])
        #expect(requests.map(\.path) == [
            "/ping/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278", "/ping/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278/fail", "/ping/abc/fail?rid=1",
        ])
    }

    @Test func aFailedStatusNamesChannelAndStatusNeverTheURL() async throws {
        let receiver = try await HTTPReceiverFixture.start(failFirst: 100, failStatus: 500)
        let url = SecretURL(receiver.baseURL + Self.secretPath)
        let error = await #expect(throws: TidemarkError.self) {
            try await SlackChannel(url: url, httpClient: .shared).send(sampleNotification())
        }
        #expect(error?.code == .io)
        #expect(error?.message.hasPrefix("slack: the endpoint answered HTTP 500") == true)
        #expect(error?.description.contains("T000SECRET") == false)
        #expect(error?.description.contains(url.value) == false)

        let missing = try await HTTPReceiverFixture.start(failFirst: 100, failStatus: 404)
        let hbError = await #expect(throws: TidemarkError.self) {
            try await Heartbeat(url: SecretURL(missing.baseURL + Self.secretPath), httpClient: .shared).ping(healthy: true)
        }
        #expect(hbError?.code == .configuration)  // a wrong URL: retrying will not help
        #expect(hbError?.message.contains("heartbeat: the endpoint answered HTTP 404") == true)
        #expect(hbError?.description.contains("SECRET") == false)
        #expect("\(url)" == "<redacted>")
    }

    @Test func aStalledEndpointTimesOutWithoutTheURL() async throws {
        let receiver = try await HTTPReceiverFixture.start(stallSeconds: 5)
        let url = SecretURL(receiver.baseURL + Self.secretPath)
        let started = ContinuousClock.now
        let error = await #expect(throws: TidemarkError.self) {
            try await WebhookChannel(url: url, httpClient: .shared, timeout: .milliseconds(500)).send(sampleNotification())
        }
        #expect(ContinuousClock.now - started < .seconds(4))
        #expect(error?.code == .io)
        #expect(error?.message.hasPrefix("webhook: unable to deliver the notification") == true)
        #expect(error?.description.contains("SECRET") == false)
    }

    @Test func connectionRefusedWithoutTheURL() async throws {
        let port = try FreePort.loopback()
        let url = SecretURL("http://127.0.0.1:\(port)\(Self.secretPath)")
        let error = await #expect(throws: TidemarkError.self) {
            try await WebhookChannel(url: url, httpClient: .shared, timeout: .seconds(5)).send(sampleNotification())
        }
        #expect(error?.code == .io)
        #expect(error?.description.contains("SECRET") == false)
    }
}
