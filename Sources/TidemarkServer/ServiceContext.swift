#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Tidemark
import TidemarkCore
import TidemarkNotify
import TidemarkPolicy
import TidemarkSystem

/// What the service's parts share: the engine (repositories opened once, the key unwrapped
/// once, in memory only), the job runner, the state file, the notifier, the message texts and
/// the clock. `run-job` builds the same context, without the HTTP server and the loops.
public struct ServiceContext: Sendable {
    public var engine: Engine
    public var settings: ServiceSettings
    public var runner: JobRunner
    public var stateStore: ServiceStateStore
    public var notifier: Notifier
    public var messages: ServiceMessages
    public var logger: Logger
    public var now: @Sendable () -> Date
    /// What recovery can do now (from the newest status snapshot), for failure messages.
    public var outlook: @Sendable () async -> RecoveryOutlook
    /// Where a channel that gave up is counted (the service points it at its metrics).
    public var channelFailures: ChannelFailureSink
    /// The heartbeat URL pinged after each healthy watchdog check.
    public var heartbeat: Heartbeat?

    public init(engine: Engine, settings: ServiceSettings, runner: JobRunner, stateStore: ServiceStateStore, notifier: Notifier,
                messages: ServiceMessages, logger: Logger, now: @escaping @Sendable () -> Date,
                outlook: @escaping @Sendable () async -> RecoveryOutlook, channelFailures: ChannelFailureSink = ChannelFailureSink(),
                heartbeat: Heartbeat? = nil) {
        self.engine = engine
        self.settings = settings
        self.runner = runner
        self.stateStore = stateStore
        self.notifier = notifier
        self.messages = messages
        self.logger = logger
        self.now = now
        self.outlook = outlook
        self.channelFailures = channelFailures
        self.heartbeat = heartbeat
    }
}

/// Counts channels that gave up on a notification; the service binds it to its metrics.
public final class ChannelFailureSink: Sendable {
    private let sink = LockedBox<(@Sendable (String) -> Void)?>(nil)
    public init() {}
    public func bind(_ body: @escaping @Sendable (String) -> Void) { sink.mutate { $0 = body } }
    func report(_ channel: String) { sink.value?(channel) }
}

extension NotificationSettings {
    /// The configured channels' names, heartbeat included.
    public var channelNames: [String] {
        var names: [String] = []
        if slackURL != nil { names.append("slack") }
        if email != nil { names.append("email") }
        if webhookURL != nil { names.append("webhook") }
        if heartbeatURL != nil { names.append("heartbeat") }
        return names
    }
}
