import AsyncHTTPClient
import Foundation

/// A Slack incoming webhook (`BACKUP_SLACK_WEBHOOK_URL`): one POST of
/// `{"text": ..., "blocks": [...]}`. `text` is the whole message (what notifications and
/// clients without blocks show); the blocks are a header (the title), a section (the body), a
/// section of fields and a context line (stanza, host, time). Slack's limits are kept: header
/// 150 characters, section text 3,000, at most 10 fields of 2,000.
public struct SlackChannel: NotificationChannel {
    public let name = "slack"
    let url: SecretURL
    let client: HTTPClient
    let timeout: Duration

    public init(url: SecretURL, httpClient: HTTPClient, timeout: Duration = .seconds(15)) {
        self.url = url
        self.client = httpClient
        self.timeout = timeout
    }

    public func send(_ n: Notification) async throws {
        try await HTTPDelivery.send(client, channel: name, url: url, json: Self.payload(n), timeout: timeout)
    }

    /// The JSON body for `n` (sorted keys, so the tests can compare it).
    public static func payload(_ n: Notification) -> [UInt8] {
        let title = "\(marker(n)) \(n.singleLineTitle)"
        var text = "*\(escape(title))*"
        if !n.body.isEmpty { text += "\n" + escape(n.body) }
        var blocks: [[String: Any]] = [
            ["type": "header", "text": ["type": "plain_text", "text": clip(title, 150), "emoji": true]],
        ]
        if !n.body.isEmpty {
            blocks.append(["type": "section", "text": ["type": "mrkdwn", "text": clip("```\(escape(n.body))```", 3000)]])
        }
        if !n.fields.isEmpty {
            blocks.append([
                "type": "section",
                "fields": n.fields.prefix(10).map { ["type": "mrkdwn", "text": clip("*\(escape($0.name))*\n\(escape($0.value))", 2000)] },
            ])
        }
        let context = "stanza \(n.stanza) · host \(n.host) · \(iso8601(n.time))"
        blocks.append(["type": "context", "elements": [["type": "mrkdwn", "text": clip(escape(context), 3000)]]])
        let object: [String: Any] = ["text": clip(text, 40000), "blocks": blocks]
        // Only strings, arrays and dictionaries: serialisation cannot fail.
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return Array(data)
    }

    static func marker(_ n: Notification) -> String {
        if n.kind == .resolved { return ":white_check_mark:" }
        switch n.severity {
        case .critical: return ":red_circle:"
        case .warning: return ":warning:"
        case .info: return ":information_source:"
        }
    }

    /// Slack's three control characters in mrkdwn text.
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    static func clip(_ s: String, _ limit: Int) -> String {
        s.count <= limit ? s : String(s.prefix(limit - 1)) + "…"
    }
}

/// A generic JSON webhook (`notifications.webhook.url`): one POST of the `Notification` itself,
/// `Content-Type: application/json`, with the field names documented on `Notification` and
/// `time` in ISO 8601 UTC. Any 2xx answer is success.
public struct WebhookChannel: NotificationChannel {
    public let name = "webhook"
    let url: SecretURL
    let client: HTTPClient
    let timeout: Duration

    public init(url: SecretURL, httpClient: HTTPClient, timeout: Duration = .seconds(15)) {
        self.url = url
        self.client = httpClient
        self.timeout = timeout
    }

    public func send(_ n: Notification) async throws {
        try await HTTPDelivery.send(client, channel: name, url: url, json: Self.payload(n), timeout: timeout)
    }

    public static func payload(_ n: Notification) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // A struct of strings, enums and a date: encoding cannot fail.
        return Array((try? encoder.encode(n)) ?? Data())
    }
}

/// An external dead-man's switch, Healthchecks.io's convention: after each healthy check the
/// service GETs `url`; when a check finds trouble it GETs `url + "/fail"` (the query, if any,
/// stays at the end). The monitor alerts when pings stop arriving — which also covers a
/// Tidemark that is down or a host that is off, what no notification from Tidemark can.
/// Not a `NotificationChannel`: it carries no message.
public struct Heartbeat: Sendable {
    let url: SecretURL
    let client: HTTPClient
    let timeout: Duration

    public init(url: SecretURL, httpClient: HTTPClient, timeout: Duration = .seconds(10)) {
        self.url = url
        self.client = httpClient
        self.timeout = timeout
    }

    /// One ping; throws (naming `heartbeat` and the status, never the URL) when it fails.
    public func ping(healthy: Bool) async throws {
        try await HTTPDelivery.send(client, channel: "heartbeat", url: target(healthy: healthy), json: nil, timeout: timeout)
    }

    func target(healthy: Bool) -> SecretURL {
        guard !healthy else { return url }
        let value = url.value
        let split = value.firstIndex(of: "?") ?? value.endIndex
        var base = String(value[..<split])
        while base.hasSuffix("/") { base.removeLast() }
        return SecretURL(base + "/fail" + value[split...])
    }
}

func iso8601(_ date: Date) -> String {
    let f = ISO8601DateFormatter()
    f.timeZone = TimeZone(identifier: "UTC")
    return f.string(from: date)
}
