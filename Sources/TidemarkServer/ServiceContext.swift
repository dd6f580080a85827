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

    public init(engine: Engine, settings: ServiceSettings, runner: JobRunner, stateStore: ServiceStateStore, notifier: Notifier,
                messages: ServiceMessages, logger: Logger, now: @escaping @Sendable () -> Date,
                outlook: @escaping @Sendable () async -> RecoveryOutlook) {
        self.engine = engine
        self.settings = settings
        self.runner = runner
        self.stateStore = stateStore
        self.notifier = notifier
        self.messages = messages
        self.logger = logger
        self.now = now
        self.outlook = outlook
    }
}
