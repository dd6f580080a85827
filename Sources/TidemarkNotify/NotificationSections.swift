/// The `smtp` section of the config file, as written (resolved by `NotificationSettings`).
public struct SMTPSection: Codable, Sendable, Equatable {
    public var host: String?
    /// Default: 465 with `tls`, 25 with `startTLS: false`, else 587.
    public var port: Int?
    /// `true`: STARTTLS or fail; `false`: never TLS; not set: STARTTLS when the server offers it.
    public var startTLS: Bool?
    /// TLS from the first byte (port 465).
    public var tls: Bool?
    public var username: String?
    /// File (mode 0600) holding the password.
    public var passwordFile: String?
    /// Envelope sender and `From` header. Default: `tidemark@<host name>`.
    public var from: String?
    /// PEM file of the certificate authorities to trust instead of the system's.
    public var caFile: String?
    /// Allow sending the password without TLS (a trusted local relay only). Default false.
    public var allowInsecureAuth: Bool?
    /// Limit of each SMTP step in seconds (default 30).
    public var timeoutSeconds: Double?

    /// The field names the config file may use.
    package enum CodingKeys: String, CodingKey, CaseIterable {
        case host, port, startTLS, tls, username, passwordFile, from, caFile, allowInsecureAuth, timeoutSeconds
    }

    public init(
        host: String? = nil, port: Int? = nil, startTLS: Bool? = nil, tls: Bool? = nil, username: String? = nil,
        passwordFile: String? = nil, from: String? = nil, caFile: String? = nil, allowInsecureAuth: Bool? = nil,
        timeoutSeconds: Double? = nil
    ) {
        self.host = host
        self.port = port
        self.startTLS = startTLS
        self.tls = tls
        self.username = username
        self.passwordFile = passwordFile
        self.from = from
        self.caFile = caFile
        self.allowInsecureAuth = allowInsecureAuth
        self.timeoutSeconds = timeoutSeconds
    }
}

/// The `notifications` section of the config file, as written. Never printed whole: it may
/// hold webhook URLs, which are secrets.
public struct NotificationsSection: Codable, Sendable, Equatable, CustomStringConvertible, CustomReflectable {
    public var slack: SlackSection?
    public var email: EmailSection?
    public var webhook: WebhookSection?
    public var heartbeat: HeartbeatSection?

    /// `notifications.slack`: an incoming webhook.
    public struct SlackSection: Codable, Sendable, Equatable {
        /// Default: on when a URL is given. `BACKUP_SLACK_NOTIFICATIONS` overrides it.
        public var enabled: Bool?
        /// The URL itself (prefer `webhookUrlFile`). `BACKUP_SLACK_WEBHOOK_URL` overrides it.
        public var webhookUrl: String?
        public var webhookUrlFile: String?
        package enum CodingKeys: String, CodingKey, CaseIterable { case enabled, webhookUrl, webhookUrlFile }
        public init(enabled: Bool? = nil, webhookUrl: String? = nil, webhookUrlFile: String? = nil) {
            self.enabled = enabled
            self.webhookUrl = webhookUrl
            self.webhookUrlFile = webhookUrlFile
        }
    }

    /// `notifications.email`: mail through the `smtp` section's server.
    public struct EmailSection: Codable, Sendable, Equatable {
        /// Default: on when recipients are given. `BACKUP_EMAIL_NOTIFICATIONS` overrides it.
        public var enabled: Bool?
        /// `BACKUP_EMAIL_RECIPIENTS` (comma-separated) overrides it.
        public var recipients: [String]?
        package enum CodingKeys: String, CodingKey, CaseIterable { case enabled, recipients }
        public init(enabled: Bool? = nil, recipients: [String]? = nil) {
            self.enabled = enabled
            self.recipients = recipients
        }
    }

    /// `notifications.webhook`: a generic JSON webhook (the `Notification` as JSON).
    public struct WebhookSection: Codable, Sendable, Equatable {
        public var url: String?
        public var urlFile: String?
        package enum CodingKeys: String, CodingKey, CaseIterable { case url, urlFile }
        public init(url: String? = nil, urlFile: String? = nil) {
            self.url = url
            self.urlFile = urlFile
        }
    }

    /// `notifications.heartbeat`: a Healthchecks-style ping URL (`url`, `url/fail`).
    public struct HeartbeatSection: Codable, Sendable, Equatable {
        public var url: String?
        public var urlFile: String?
        package enum CodingKeys: String, CodingKey, CaseIterable { case url, urlFile }
        public init(url: String? = nil, urlFile: String? = nil) {
            self.url = url
            self.urlFile = urlFile
        }
    }

    /// The field names the config file may use.
    package enum CodingKeys: String, CodingKey, CaseIterable { case slack, email, webhook, heartbeat }

    public init(slack: SlackSection? = nil, email: EmailSection? = nil, webhook: WebhookSection? = nil, heartbeat: HeartbeatSection? = nil) {
        self.slack = slack
        self.email = email
        self.webhook = webhook
        self.heartbeat = heartbeat
    }

    public var description: String {
        "NotificationsSection(slack: \(slack == nil ? "nil" : "set"), email: \(email?.recipients?.joined(separator: ",") ?? "nil"), webhook: \(webhook == nil ? "nil" : "set"), heartbeat: \(heartbeat == nil ? "nil" : "set"))"
    }
    /// `dump` shows what `description` shows, never a URL.
    public var customMirror: Mirror { Mirror(self, children: ["description": description], displayStyle: .struct) }
}
