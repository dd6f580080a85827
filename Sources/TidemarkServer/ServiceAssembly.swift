#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AsyncHTTPClient
import Logging
import ServiceLifecycle
import Tidemark
import TidemarkCore
import TidemarkNotify
import TidemarkPolicy
import TidemarkRepository
import TidemarkSystem

/// Builds the service's context from the configuration, the way `serve`, `run-job` and
/// `notify test` all start.
public enum ServiceAssembly {
    /// The newest status snapshot the watchdog took, for failure messages between checks.
    final class SnapshotCache: Sendable {
        let box = LockedBox<RecoveryOutlook?>(nil)
    }

    public static func context(configuration: Configuration, environment: [String: String], logger: Logger,
                               executable: String, listen: String? = nil) throws -> ServiceContext {
        let settings = try ServiceSettings.resolve(configuration, environment: environment, listen: listen)
        var global: [String] = []
        if let file = configuration.configFile { global += ["--config", file] }
        global += ["--stanza", configuration.stanza]
        let runner = JobRunner(executable: executable, globalArguments: global, environment: environment,
                               stateDirectory: settings.stateDirectory, stanza: configuration.stanza,
                               temporaryDirectory: configuration.tempDirectory)
        let engine = Engine(configuration, logger: logger)
        let host = HostIdentity.current().host
        let channels = settings.notifications.makeChannels(httpClient: HTTPClient.shared)
        let failures = ChannelFailureSink()
        let backoff = DeliveryBackoff.standard
        let notifier = Notifier(channels: channels, logger: logger, backoff: { attempt in
            .seconds(backoff.delay(afterFailedAttempts: attempt, jitter: Double.random(in: 0..<1)) ?? backoff.delays.last ?? 60)
        }, maxAttempts: backoff.maxAttempts, onChannelFailure: { failures.report($0) })
        let cache = SnapshotCache()
        let outlook: @Sendable () async -> RecoveryOutlook = {
            if let o = cache.box.value { return o }
            let o = await StatusOutlook.compute(engine: engine)
            cache.box.mutate { $0 = o }
            return o
        }
        return ServiceContext(engine: engine, settings: settings, runner: runner,
                              stateStore: ServiceStateStore(directory: settings.stateDirectory, stanza: configuration.stanza),
                              notifier: notifier, messages: ServiceMessages(stanza: configuration.stanza, host: host),
                              logger: logger, now: { Date() }, outlook: outlook, channelFailures: failures,
                              heartbeat: settings.notifications.heartbeat(httpClient: HTTPClient.shared))
    }
}
