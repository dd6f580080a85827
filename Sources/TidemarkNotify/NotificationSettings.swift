import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import TidemarkCore
import TidemarkSystem

/// The channels the configuration asks for, resolved once: the `notifications` and `smtp`
/// sections, overridden by the guide's environment variables, secrets read from their files.
public struct NotificationSettings: Sendable {
    public var slackURL: SecretURL?
    public var email: (smtp: SMTPConfiguration, recipients: [String])?
    public var webhookURL: SecretURL?
    public var heartbeatURL: SecretURL?

    public init(
        slackURL: SecretURL? = nil, email: (smtp: SMTPConfiguration, recipients: [String])? = nil, webhookURL: SecretURL? = nil,
        heartbeatURL: SecretURL? = nil
    ) {
        self.slackURL = slackURL
        self.email = email
        self.webhookURL = webhookURL
        self.heartbeatURL = heartbeatURL
    }

    /// Resolves the settings. Environment (the guide's names, an interface):
    /// `BACKUP_SLACK_NOTIFICATIONS` (true/false), `BACKUP_SLACK_WEBHOOK_URL`,
    /// `BACKUP_EMAIL_NOTIFICATIONS` (true/false), `BACKUP_EMAIL_RECIPIENTS` (comma-separated).
    /// An empty variable counts as unset. A channel that is on without what it needs is a
    /// `.configuration` error naming the setting.
    public static func resolve(
        notifications: NotificationsSection?, smtp: SMTPSection?, environment: [String: String], hostName: String = ProcessInfo.processInfo.hostName
    ) throws -> NotificationSettings {
        func env(_ name: String) -> String? {
            guard let v = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty else { return nil }
            return v
        }
        var settings = NotificationSettings()
        let n = notifications ?? NotificationsSection()

        // Slack.
        let slackURL = try env("BACKUP_SLACK_WEBHOOK_URL").map(SecretURL.init)
            ?? secret(inline: n.slack?.webhookUrl, file: n.slack?.webhookUrlFile, setting: "notifications.slack.webhookUrl")
        let slackOn = try env("BACKUP_SLACK_NOTIFICATIONS").map { try flag($0, name: "BACKUP_SLACK_NOTIFICATIONS") }
            ?? n.slack?.enabled ?? (slackURL != nil)
        if slackOn {
            guard let slackURL else {
                throw TidemarkError(.configuration, "Slack notifications are on but no webhook URL is set",
                                    hints: ["set BACKUP_SLACK_WEBHOOK_URL or notifications.slack.webhookUrlFile (a file of mode 0600 holding the URL)",
                                            "or turn them off: BACKUP_SLACK_NOTIFICATIONS=false"])
            }
            try check(slackURL, setting: "the Slack webhook URL (BACKUP_SLACK_WEBHOOK_URL / notifications.slack)")
            settings.slackURL = slackURL
        }

        // Email.
        let recipients = env("BACKUP_EMAIL_RECIPIENTS").map {
            $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        } ?? n.email?.recipients ?? []
        let emailOn = try env("BACKUP_EMAIL_NOTIFICATIONS").map { try flag($0, name: "BACKUP_EMAIL_NOTIFICATIONS") }
            ?? n.email?.enabled ?? !recipients.isEmpty
        if emailOn {
            guard !recipients.isEmpty else {
                throw TidemarkError(.configuration, "email notifications are on but no recipients are set",
                                    hints: ["set BACKUP_EMAIL_RECIPIENTS=ops@example.com,dba@example.com or notifications.email.recipients",
                                            "or turn them off: BACKUP_EMAIL_NOTIFICATIONS=false"])
            }
            for r in recipients where !MailEncoding.isPlainAddress(r) {
                throw TidemarkError(.configuration, "email recipient '\(r.prefix(80))' is not a plain address (local@domain)",
                                    hints: ["fix BACKUP_EMAIL_RECIPIENTS / notifications.email.recipients"])
            }
            settings.email = (try smtpConfiguration(smtp, hostName: hostName), recipients)
        }

        // Webhook and heartbeat.
        if let url = try secret(inline: n.webhook?.url, file: n.webhook?.urlFile, setting: "notifications.webhook.url") {
            try check(url, setting: "notifications.webhook.url")
            settings.webhookURL = url
        }
        if let url = try secret(inline: n.heartbeat?.url, file: n.heartbeat?.urlFile, setting: "notifications.heartbeat.url") {
            try check(url, setting: "notifications.heartbeat.url")
            settings.heartbeatURL = url
        }
        return settings
    }

    /// One channel per configured way, in a fixed order: slack, email, webhook.
    public func makeChannels(httpClient: HTTPClient, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) -> [any NotificationChannel] {
        var channels: [any NotificationChannel] = []
        if let slackURL { channels.append(SlackChannel(url: slackURL, httpClient: httpClient)) }
        if let email { channels.append(EmailChannel(configuration: email.smtp, recipients: email.recipients, group: group)) }
        if let webhookURL { channels.append(WebhookChannel(url: webhookURL, httpClient: httpClient)) }
        return channels
    }

    /// The heartbeat, when `notifications.heartbeat` is set.
    public func heartbeat(httpClient: HTTPClient) -> Heartbeat? {
        heartbeatURL.map { Heartbeat(url: $0, httpClient: httpClient) }
    }

    static func smtpConfiguration(_ section: SMTPSection?, hostName: String) throws -> SMTPConfiguration {
        guard let s = section, let host = s.host?.trimmingCharacters(in: .whitespaces), !host.isEmpty else {
            throw TidemarkError(.configuration, "email notifications are on but smtp.host is not set",
                                hints: ["add \"smtp\": {\"host\": \"mail.example.com\", \"port\": 587, \"from\": \"tidemark@example.com\"} to the configuration",
                                        "or turn email off: BACKUP_EMAIL_NOTIFICATIONS=false"])
        }
        if s.tls == true, s.startTLS == true {
            throw TidemarkError(.configuration, "smtp.tls and smtp.startTLS are both true",
                                hints: ["smtp.tls: true is TLS from the start (port 465); smtp.startTLS: true upgrades a plain connection (port 587): choose one"])
        }
        let security: SMTPConfiguration.Security =
            s.tls == true ? .implicitTLS : s.startTLS == true ? .startTLS : s.startTLS == false ? .none : .startTLSIfOffered
        let port = s.port ?? (security == .implicitTLS ? 465 : security == .none ? 25 : 587)
        guard (1...65535).contains(port) else {
            throw TidemarkError(.configuration, "smtp.port \(port) is not a TCP port", hints: ["use 587 (STARTTLS), 465 (TLS) or 25"])
        }
        let domain = hostName.contains(".") ? hostName : "localhost"
        let from = s.from ?? "tidemark@\(domain)"
        guard MailEncoding.isPlainAddress(from) else {
            throw TidemarkError(.configuration, "smtp.from '\(from.prefix(80))' is not a plain address (local@domain)",
                                hints: ["set smtp.from to the address the mails come from"])
        }
        var password: Secret?
        switch (s.username, s.passwordFile) {
        case (nil, nil): break
        case (_?, let file?): password = try KeyFile.read(file, source: "smtp.passwordFile")
        case (_?, nil):
            throw TidemarkError(.configuration, "smtp.username is set but smtp.passwordFile is not",
                                hints: ["put the password in a file of mode 0600 and name it in smtp.passwordFile"])
        case (nil, _?):
            throw TidemarkError(.configuration, "smtp.passwordFile is set but smtp.username is not", hints: ["set smtp.username"])
        }
        let seconds = s.timeoutSeconds ?? 30
        guard seconds > 0, seconds <= 3600 else {
            throw TidemarkError(.configuration, "smtp.timeoutSeconds must be between 0 and 3600", hints: ["the default is 30"])
        }
        let name = hostName.isEmpty || !hostName.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }) ? "localhost" : hostName
        return SMTPConfiguration(
            host: host, port: port, security: security, username: s.username, password: password, from: from, caFile: s.caFile,
            allowInsecureAuth: s.allowInsecureAuth ?? false, timeout: .milliseconds(Int64(seconds * 1000)), clientName: name)
    }

    /// A URL from the file (`*File`, read with the key-file rules) or inline; both is an error.
    static func secret(inline: String?, file: String?, setting: String) throws -> SecretURL? {
        switch (inline, file) {
        case (_?, _?):
            throw TidemarkError(.configuration, "\(setting) and \(setting)File are both set", hints: ["keep one (the file is safer)"])
        case (let url?, nil): return SecretURL(url.trimmingCharacters(in: .whitespacesAndNewlines))
        case (nil, let file?): return SecretURL(String(decoding: try KeyFile.read(file, source: setting + "File").bytes, as: UTF8.self))
        case (nil, nil): return nil
        }
    }

    static func check(_ url: SecretURL, setting: String) throws {
        guard url.isWellFormed else {
            throw TidemarkError(.configuration, "\(setting) is not an http:// or https:// URL", hints: ["check the URL (it is not shown here: it is a secret)"])
        }
    }

    static func flag(_ value: String, name: String) throws -> Bool {
        switch value.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default:
            throw TidemarkError(.configuration, "\(name) must be true or false, not '\(value.prefix(40))'", hints: ["set \(name)=true or \(name)=false"])
        }
    }
}
