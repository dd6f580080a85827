#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ServiceLifecycle
import Tidemark
import TidemarkArchiver
import TidemarkCore
import TidemarkNotify
import TidemarkSystem

/// `tidemark serve`: the scheduler loop, the watchdog loop and the HTTP server in one service
/// group. SIGTERM or SIGINT shuts the group down gracefully: the scheduler asks its running job
/// to stop and records its end, the watchdog finishes its check, the notifier delivers what is
/// queued (bounded), the HTTP server stops listening.
public struct TidemarkService: Sendable {
    public var context: ServiceContext
    /// What serves HTTP instead of the bare /metrics server (the admin API wraps it): given
    /// that server and the newest status snapshot, the services to run in its place.
    public var http: (@Sendable (MetricsHTTPServer, @escaping @Sendable () -> StatusSnapshot?) throws -> [any Service])?

    public init(context: ServiceContext,
                http: (@Sendable (MetricsHTTPServer, @escaping @Sendable () -> StatusSnapshot?) throws -> [any Service])? = nil) {
        self.context = context
        self.http = http
    }

    public func run() async throws {
        let c = context
        let s = c.settings
        let token = try MetricsToken.load(path: s.metricsTokenFile, logger: c.logger)
        let listen = HTTPListenConfiguration(host: s.listenHost, port: s.listenPort, token: token)
        let metrics = ServiceMetrics(stanza: c.engine.configuration.stanza)
        let latest = LockedBox<StatusSnapshot?>(nil)
        let quotas = Dictionary(c.engine.configuration.repositories.compactMap { r in r.quotaBytes.map { (r.name, $0) } }) { a, _ in a }
        let probe = StatusProbe(engine: c.engine, quotaBytes: quotas, dataDirectory: s.dataDirectory,
                                server: { try await ServerWALState.query(c.engine) })
        c.channelFailures.bind { channel in metrics.recordNotificationFailure(channel: channel) }
        let watchdog = WatchdogLoop(context: c, probe: probe, metrics: metrics, heartbeat: c.heartbeat, latest: latest)
        let http = MetricsHTTPServer(configuration: listen, metrics: metrics, health: {
            MetricsHTTPServer.healthReason(latest.value, now: c.now().timeIntervalSince1970,
                                           maxAge: max(300, 3 * s.checkInterval.seconds))
        }, logger: c.logger)
        let served: [any Service] = try self.http.map { try $0(http, { latest.value }) } ?? [http]
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: SchedulerLoop(context: c)),
            .init(service: watchdog),
        ] + served.map { .init(service: $0) }
        if let archiver = try ResidentArchiver.forService(engine: c.engine, dataDirectory: s.dataDirectory, logger: c.logger) {
            archiver.reportBacklog { metrics.recordArchiverBacklog($0) }
            // Its end (another archiver holds the lock, the data directory went away) is logged
            // and leaves the rest of the service running.
            services.append(.init(service: archiver, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: c.logger))
        c.logger.notice("service started", metadata: [
            "stanza": "\(c.engine.configuration.stanza)", "listen": "\(s.listenHost):\(s.listenPort)",
            "jobs": "\(s.schedule.jobs.filter(\.enabled).count)", "channels": "\(s.notifications.channelNames.joined(separator: ","))",
        ])
        try await group.run()
        await c.notifier.drain(timeout: .seconds(20))
        c.logger.notice("service stopped")
    }
}

/// The bearer token /metrics requires: the configured file, or — at the default path — one the
/// service creates on first start (32 random bytes, hex, 0600) and names in its log.
enum MetricsToken {
    static func load(path: String, logger: Logger) throws -> Secret {
        if (try? FileIO.size(path)) ?? nil == nil {
            var bytes = [UInt8](repeating: 0, count: 32)
            for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
            let text = bytes.map { String(format: "%02x", $0) }.joined()
            do {
                try FileIO.createDirectoryPath(FileIO.parent(path))
                let file = try FileIO.TempFile.create(finalPath: path, root: FileIO.parent(path))
                try file.write(Array((text + "\n").utf8))
                _ = try file.commit(ifAbsent: true)
            } catch {
                throw TidemarkError(.configuration, "unable to create the metrics token file '\(path)': \(error)",
                                    hints: ["create it yourself (mode 0600) or set serve.metricsTokenFile"])
            }
            logger.notice("created a bearer token for /metrics", metadata: ["file": "\(path)"])
        }
        do {
            return try KeyFile.read(path, source: "serve.metricsTokenFile")
        } catch let e as TidemarkError {
            throw e
        } catch {
            throw TidemarkError(.configuration, "unable to read the metrics token file '\(path)': \(error)")
        }
    }
}
