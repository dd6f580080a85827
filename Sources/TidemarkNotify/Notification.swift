import Foundation

/// One message for people: a failure, its resolution, a summary or report, an alert from the
/// watchdog, or a test. Channels render it (Slack text, a mail, the webhook's JSON); nothing in it
/// may be a secret.
///
/// The webhook channel posts exactly this value as JSON (`WebhookChannel.encoder`), so the field
/// names below are an interface: `kind`, `severity`, `title`, `body`, `fields` (an array of
/// `{"name", "value"}`, in order), `stanza`, `host`, `time` (ISO 8601, UTC) and `incidentKey`
/// (absent when `nil`).
public struct Notification: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case failure, resolved, summary, report, alert, test
    }

    public enum Severity: String, Sendable, Codable, CaseIterable {
        case critical, warning, info
    }

    /// One labelled value shown with the message (job, stanza, host, started, duration, ...).
    public struct Field: Sendable, Codable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public var kind: Kind
    public var severity: Severity
    /// One line, e.g. `tidemark main@db1: backup 'incremental' failed`.
    public var title: String
    /// Plain text, several lines: the error, its HINT lines, what it means for recovery.
    public var body: String
    public var fields: [Field]
    public var stanza: String
    public var host: String
    public var time: Date
    /// The incident this message opens or resolves, for webhook consumers that deduplicate
    /// (PagerDuty's `dedup_key`, Alertmanager-style grouping).
    public var incidentKey: String?

    public init(
        kind: Kind, severity: Severity, title: String, body: String, fields: [Field] = [], stanza: String, host: String,
        time: Date, incidentKey: String? = nil
    ) {
        self.kind = kind
        self.severity = severity
        self.title = title
        self.body = body
        self.fields = fields
        self.stanza = stanza
        self.host = host
        self.time = time
        self.incidentKey = incidentKey
    }

    /// The title made one line: a title with a line break would break a mail header.
    public var singleLineTitle: String {
        title.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

/// A way to reach people. `send` delivers one notification once (no retry: the `Notifier`
/// retries) and throws a `TidemarkError` that names the channel and what went wrong, never a
/// secret (webhook URLs and SMTP passwords are secrets).
public protocol NotificationChannel: Sendable {
    /// Stable and unique among the channels: `slack`, `email`, `webhook` (what
    /// `tidemark notify test --channel NAME` takes).
    var name: String { get }
    func send(_ n: Notification) async throws
}

/// One channel's outcome of `Notifier.sendNow`.
public struct ChannelResult: Sendable, Equatable {
    public var channel: String
    /// `nil` when the channel delivered the notification.
    public var error: String?
    public var milliseconds: Int
    public var succeeded: Bool { error == nil }

    public init(channel: String, error: String?, milliseconds: Int) {
        self.channel = channel
        self.error = error
        self.milliseconds = milliseconds
    }
}
