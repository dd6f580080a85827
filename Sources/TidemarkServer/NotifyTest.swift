#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCore
import TidemarkNotify

/// `tidemark notify test [--channel NAME]`: a test message through each channel, and what happened.
public struct NotifyTest: Sendable {
    public struct Line: Sendable {
        public var channel: String
        public var delivered: Bool
        public var line: String
    }
    public var context: ServiceContext

    public init(context: ServiceContext) { self.context = context }

    public func run(channel: String?) async throws -> [Line] {
        let c = context
        let known = c.settings.notifications.channelNames
        if let channel, !known.contains(channel) {
            throw TidemarkError(.configuration, "no notification channel '\(channel)' is configured",
                                hints: [known.isEmpty ? "configure one: notifications in the config file, or BACKUP_SLACK_WEBHOOK_URL / BACKUP_EMAIL_RECIPIENTS (docs/service.md)"
                                                      : "configured: " + known.joined(separator: ", ")])
        }
        if known.isEmpty {
            throw TidemarkError(.configuration, "no notification channel is configured",
                                hints: ["configure one: notifications in the config file, or BACKUP_SLACK_WEBHOOK_URL / BACKUP_EMAIL_RECIPIENTS (docs/service.md)"])
        }
        let message = c.messages.make(.test, .info, "test message",
                                      "This is a test of Tidemark's notifications (tidemark notify test). Nothing needs doing.\n",
                                      [("sent by", "tidemark notify test")], key: nil, at: c.now())
        var lines: [Line] = []
        for r in await c.notifier.sendNow(message, only: channel) {
            let ms = "\(r.milliseconds) ms"
            lines.append(Line(channel: r.channel, delivered: r.succeeded,
                              line: r.succeeded ? "\(r.channel): delivered in \(ms)" : "\(r.channel): FAILED after \(ms): \(r.error ?? "unknown error")"))
        }
        return lines
    }
}
