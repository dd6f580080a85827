import Hummingbird
import HummingbirdTLS
import Logging
import NIOSSL
import ServiceLifecycle
import TidemarkCore
import TidemarkServer

/// `serve`'s HTTP server with the admin API: /metrics and /healthz as before, the API's
/// routes beside them, over TLS when `api.tls` is set.
public struct APIHTTPServer: Service {
    public let metrics: MetricsHTTPServer
    public let env: APIEnvironment
    public let onListening: @Sendable (Int) async -> Void

    public init(metrics: MetricsHTTPServer, env: APIEnvironment, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.metrics = metrics
        self.env = env
        self.onListening = onListening
    }

    public func makeRouter() -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        APIRoutes(env: env).add(to: router)
        metrics.addRoutes(to: router)
        return router
    }

    public func run() async throws {
        let address = BindAddress.hostname(metrics.configuration.host, port: metrics.configuration.port)
        let onListening = onListening
        let logger = metrics.logger
        if let tls = env.settings.tls {
            let configuration = try Self.tlsConfiguration(certFile: tls.certFile, keyFile: tls.keyFile)
            try await Application(router: makeRouter(), server: try .tls(tlsConfiguration: configuration),
                                  configuration: .init(address: address),
                                  onServerRunning: { await onListening($0.localAddress?.port ?? 0) }, logger: logger).run()
        } else {
            try await Application(router: makeRouter(), configuration: .init(address: address),
                                  onServerRunning: { await onListening($0.localAddress?.port ?? 0) }, logger: logger).run()
        }
    }

    static func tlsConfiguration(certFile: String, keyFile: String) throws -> TLSConfiguration {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certFile)
            let key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
            return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        } catch {
            throw TidemarkError(.configuration, "unable to load api.tls (certFile '\(certFile)', keyFile '\(keyFile)'): \(error)",
                                hints: ["both must be PEM files readable by the service's user"])
        }
    }

    /// The services `serve` runs in place of the bare /metrics server.
    public static func services(metrics: MetricsHTTPServer, env: APIEnvironment) -> [any Service] {
        [APIHTTPServer(metrics: metrics, env: env), APIJobService(jobs: env.jobs)]
    }
}
