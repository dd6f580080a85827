import Logging
import ServiceLifecycle
import Tidemark
import TidemarkCore
import TidemarkSystem

extension ResidentArchiver {
    /// The archiver `tidemark serve` runs in its group: nil unless `archiver.enabled`; an
    /// error when enabled without a data directory (serve.dataDirectory or PGDATA).
    public static func forService(engine: Engine, dataDirectory: String?, logger: Logger) throws -> ResidentArchiver? {
        let configuration = engine.configuration
        guard configuration.service.archiver?.enabled == true else { return nil }
        guard let dataDirectory, !dataDirectory.isEmpty else {
            throw TidemarkError(.configuration, "archiver.enabled is set but serve does not know the data directory",
                                hints: ["set serve.dataDirectory (or PGDATA) to the data directory whose pg_wal the archiver pushes"])
        }
        _ = try configuration.requireKey()
        var settings = try ArchiverSettings.resolve(configuration.service.archiver, stanza: configuration.stanza,
                                                    dataDirectory: FileIO.absolute(dataDirectory), tempDirectory: configuration.tempDirectory)
        settings.idleMinutes = 0  // the service's archiver stays as long as the service
        return ResidentArchiver(engine: engine, settings: settings, dataDirectory: dataDirectory, logger: logger)
    }

    /// `tidemark archiver`: the archiver alone in a service group that stops it gracefully on
    /// SIGTERM or SIGINT.
    public static func runAlone(engine: Engine, dataDirectory: String, logger: Logger) async throws {
        let configuration = engine.configuration
        _ = try configuration.requireKey()
        let settings = try ArchiverSettings.resolve(configuration.service.archiver, stanza: configuration.stanza,
                                                    dataDirectory: FileIO.absolute(dataDirectory), tempDirectory: configuration.tempDirectory)
        let archiver = ResidentArchiver(engine: engine, settings: settings, dataDirectory: dataDirectory, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: archiver)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
