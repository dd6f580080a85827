import Foundation
import NIOCore
import NIOPosix
import TidemarkCore

/// Mail over SMTP (`BACKUP_EMAIL_RECIPIENTS`, the `smtp` section): one plain-text message to
/// every recipient. Subject: the title; body: the body, then the fields one per line, then
/// stanza, host and time.
///
/// A recipient the server refuses does not stop the others: the mail goes to those it accepts,
/// and `send` then throws an `.invalidInput` error naming the refused ones with the server's
/// reply (permanent, so the `Notifier` reports it rather than sending the others a copy again).
public struct EmailChannel: NotificationChannel {
    public let name = "email"
    public let recipients: [String]
    let client: SMTPClient

    public init(configuration: SMTPConfiguration, recipients: [String], group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.recipients = recipients
        self.client = SMTPClient(configuration: configuration, group: group)
    }

    public func send(_ n: Notification) async throws {
        let message = Self.message(n, from: client.configuration.from, to: recipients)
        let delivery = try await client.send(message.rendered(), from: client.configuration.from, to: recipients)
        guard delivery.refused.isEmpty else {
            let refused = recipients.compactMap { r in delivery.refused[r].map { "\(r): \($0)" } }.joined(separator: "; ")
            throw TidemarkError(.invalidInput,
                                "email: delivered to \(delivery.accepted.count) of \(recipients.count) recipients; the SMTP server refused \(refused)",
                                hints: ["check BACKUP_EMAIL_RECIPIENTS / notifications.email.recipients"])
        }
    }

    /// The mail for `n`.
    public static func message(_ n: Notification, from: String, to: [String]) -> MailMessage {
        var body = n.body
        if !body.isEmpty, !body.hasSuffix("\n") { body += "\n" }
        if !n.fields.isEmpty {
            body += "\n" + n.fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n") + "\n"
        }
        body += "\nstanza: \(n.stanza)\nhost: \(n.host)\ntime: \(iso8601(n.time))\n"
        if let key = n.incidentKey { body += "incident: \(key)\n" }
        body += "\n-- \nSent by tidemark (\(n.kind.rawValue), \(n.severity.rawValue)).\n"
        return MailMessage(from: from, to: to, subject: n.singleLineTitle, body: body, date: n.time)
    }
}
