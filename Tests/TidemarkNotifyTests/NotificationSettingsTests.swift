import AsyncHTTPClient
import Foundation
import Testing
import TidemarkCore
import TidemarkTesting
@testable import TidemarkNotify

@Suite("Notify: settings from file and environment", .tags(.small))
struct NotificationSettingsTests {
    let smtp = SMTPSection(host: "mail.example.com", from: "tidemark@example.com")

    func resolve(_ n: NotificationsSection?, smtp: SMTPSection? = nil, _ env: [String: String] = [:]) throws -> NotificationSettings {
        try NotificationSettings.resolve(notifications: n, smtp: smtp, environment: env, hostName: "db1.example.com")
    }

    @Test func nothingConfiguredIsNoChannel() throws {
        let s = try resolve(nil)
        #expect(s.slackURL == nil && s.email == nil && s.webhookURL == nil && s.heartbeatURL == nil)
        #expect(s.makeChannels(httpClient: .shared).isEmpty)
    }

    @Test func theGuidesEnvironment() throws {
        let s = try resolve(nil, smtp: smtp, [
            "BACKUP_SLACK_NOTIFICATIONS": "true", "BACKUP_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X",
            "BACKUP_EMAIL_NOTIFICATIONS": "true", "BACKUP_EMAIL_RECIPIENTS": "ops@example.com, dba@example.com,",
        ])
        #expect(s.slackURL?.value == "https://hooks.slack.com/services/T/B/X")
        #expect(s.email?.recipients == ["ops@example.com", "dba@example.com"])
        #expect(s.email?.smtp.port == 587)
        #expect(s.email?.smtp.security == .startTLSIfOffered)
        #expect(s.makeChannels(httpClient: .shared).map(\.name) == ["slack", "email"])
    }

    @Test func environmentOverridesTheFile() throws {
        let file = NotificationsSection(slack: .init(enabled: true, webhookUrl: "https://file.example/hook"), email: .init(enabled: true, recipients: ["file@example.com"]))
        let s = try resolve(file, smtp: smtp, ["BACKUP_SLACK_WEBHOOK_URL": "https://env.example/hook", "BACKUP_EMAIL_RECIPIENTS": "env@example.com"])
        #expect(s.slackURL?.value == "https://env.example/hook")
        #expect(s.email?.recipients == ["env@example.com"])
        let off = try resolve(file, smtp: smtp, ["BACKUP_SLACK_NOTIFICATIONS": "false", "BACKUP_EMAIL_NOTIFICATIONS": "false"])
        #expect(off.slackURL == nil && off.email == nil)
    }

    @Test func enabledWithoutWhatItNeedsIsAConfigurationError() {
        let slack = #expect(throws: TidemarkError.self) { try resolve(nil, ["BACKUP_SLACK_NOTIFICATIONS": "true"]) }
        #expect(slack?.code == .configuration)
        #expect(slack?.hints.first?.contains("BACKUP_SLACK_WEBHOOK_URL") == true)

        let noRecipients = #expect(throws: TidemarkError.self) { try resolve(nil, smtp: smtp, ["BACKUP_EMAIL_NOTIFICATIONS": "true"]) }
        #expect(noRecipients?.code == .configuration)
        #expect(noRecipients?.hints.first?.contains("BACKUP_EMAIL_RECIPIENTS") == true)

        let noHost = #expect(throws: TidemarkError.self) { try resolve(nil, ["BACKUP_EMAIL_RECIPIENTS": "ops@example.com"]) }
        #expect(noHost?.message.contains("smtp.host") == true)

        let badFlag = #expect(throws: TidemarkError.self) { try resolve(nil, ["BACKUP_SLACK_NOTIFICATIONS": "maybe"]) }
        #expect(badFlag?.message.contains("BACKUP_SLACK_NOTIFICATIONS must be true or false") == true)

        let badURL = #expect(throws: TidemarkError.self) { try resolve(nil, ["BACKUP_SLACK_WEBHOOK_URL": "hooks.slack.com/services/SECRET"]) }
        #expect(badURL?.description.contains("SECRET") == false)

        let badAddress = #expect(throws: TidemarkError.self) { try resolve(nil, smtp: smtp, ["BACKUP_EMAIL_RECIPIENTS": "ops@example.com>\r\nDATA"]) }
        #expect(badAddress?.code == .configuration)

        let both = #expect(throws: TidemarkError.self) {
            try resolve(nil, smtp: SMTPSection(host: "m", startTLS: true, tls: true), ["BACKUP_EMAIL_RECIPIENTS": "ops@example.com"])
        }
        #expect(both?.message.contains("smtp.tls and smtp.startTLS") == true)
    }

    @Test func smtpDefaults() throws {
        let env = ["BACKUP_EMAIL_RECIPIENTS": "ops@example.com"]
        #expect(try resolve(nil, smtp: SMTPSection(host: "m", tls: true), env).email?.smtp.port == 465)
        #expect(try resolve(nil, smtp: SMTPSection(host: "m", tls: true), env).email?.smtp.security == .implicitTLS)
        #expect(try resolve(nil, smtp: SMTPSection(host: "m", startTLS: false), env).email?.smtp.port == 25)
        #expect(try resolve(nil, smtp: SMTPSection(host: "m", startTLS: true), env).email?.smtp.security == .startTLS)
        let defaults = try resolve(nil, smtp: SMTPSection(host: "m"), env).email?.smtp
        #expect(defaults?.from == "tidemark@db1.example.com")
        #expect(defaults?.timeout == .seconds(30))
        #expect(defaults?.allowInsecureAuth == false)
    }

    @Test func secretsFromFilesWithTheKeyFileRules() throws {
        let dir = try ScratchDirectory(prefix: "notify-secrets", mode: 0o700)
        let password = dir.child("smtp-password"), hook = dir.child("slack-url"), open = dir.child("open")
        try Data("pa55word\n".utf8).write(to: URL(fileURLWithPath: password))
        try Data("  https://hooks.slack.com/services/T/B/FROMFILE\n".utf8).write(to: URL(fileURLWithPath: hook))
        try Data("x".utf8).write(to: URL(fileURLWithPath: open))
        for p in [password, hook] { chmod(p, 0o600) }
        chmod(open, 0o644)
        let s = try resolve(
            NotificationsSection(slack: .init(webhookUrlFile: hook), heartbeat: .init(url: "https://hc-ping.com/uuid")),
            smtp: SMTPSection(host: "m", username: "tidemark", passwordFile: password, from: "t@example.com"), ["BACKUP_EMAIL_RECIPIENTS": "ops@example.com"])
        #expect(s.slackURL?.value == "https://hooks.slack.com/services/T/B/FROMFILE")
        #expect(s.email?.smtp.password?.bytes == Array("pa55word".utf8))
        #expect(s.heartbeatURL?.value == "https://hc-ping.com/uuid")

        let readable = #expect(throws: TidemarkError.self) {
            try resolve(nil, smtp: SMTPSection(host: "m", username: "u", passwordFile: open), ["BACKUP_EMAIL_RECIPIENTS": "ops@example.com"])
        }
        #expect(readable?.message.contains("readable by every user") == true)
        let noFile = #expect(throws: TidemarkError.self) {
            try resolve(nil, smtp: SMTPSection(host: "m", username: "u"), ["BACKUP_EMAIL_RECIPIENTS": "ops@example.com"])
        }
        #expect(noFile?.message.contains("smtp.passwordFile") == true)
    }

    @Test func sectionsNeverPrintURLs() {
        let n = NotificationsSection(slack: .init(webhookUrl: "https://hooks.slack.com/services/SECRET"), webhook: .init(url: "https://x/SECRET"))
        #expect(!"\(n)".contains("SECRET"))
        var dumped = ""
        dump(n, to: &dumped)
        #expect(!dumped.contains("SECRET"))
        #expect(!"\(SecretURL("https://x/SECRET"))".contains("SECRET"))
    }

    @Test func codingKeysAreTheDocumentedNames() {
        #expect(SMTPSection.CodingKeys.allCases.map(\.stringValue) == [
            "host", "port", "startTLS", "tls", "username", "passwordFile", "from", "caFile", "allowInsecureAuth", "timeoutSeconds",
        ])
        #expect(NotificationsSection.CodingKeys.allCases.map(\.stringValue) == ["slack", "email", "webhook", "heartbeat"])
        #expect(NotificationsSection.SlackSection.CodingKeys.allCases.map(\.stringValue) == ["enabled", "webhookUrl", "webhookUrlFile"])
    }
}
