import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// `GET /metrics` (Prometheus text format, bearer token when one is configured) and
/// `GET /healthz` (no token; "ok", or 503 with a one-line reason that names no path, host or
/// secret), as one swift-service-lifecycle `Service`: it runs in the service's `ServiceGroup`
/// and stops on its graceful shutdown.
public struct MetricsHTTPServer: Service {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public let configuration: HTTPListenConfiguration
    public let metrics: ServiceMetrics
    /// nil when healthy, else why not (one line).
    public let health: @Sendable () async -> String?
    public let logger: Logger
    /// Called once the socket is bound, with the port (the chosen one when `port` is 0).
    public let onListening: @Sendable (Int) async -> Void

    public init(configuration: HTTPListenConfiguration, metrics: ServiceMetrics,
                health: @escaping @Sendable () async -> String?, logger: Logger,
                onListening: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.configuration = configuration
        self.metrics = metrics
        self.health = health
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        try await makeApplication().run()
    }

    /// The routes; tests drive them with HummingbirdTesting.
    package func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        addRoutes(to: router)
        return router
    }

    /// Adds /metrics and /healthz to `router` (the admin API serves them beside its own routes).
    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        let configuration = configuration, metrics = metrics, health = health
        router.get("/metrics") { request, _ -> Response in
            guard configuration.authorizes(request.headers[.authorization]) else {
                var headers = HTTPFields()
                headers[.contentType] = "application/json"
                headers[.wwwAuthenticate] = "Bearer"
                let body = #"{"error":"missing or wrong bearer token","hint":"send Authorization: Bearer <the token in serve.metricsTokenFile>"}"#
                return Response(status: .unauthorized, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body + "\n")))
            }
            var headers = HTTPFields()
            headers[.contentType] = Self.contentType
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
        }
        router.get("/healthz") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; charset=utf-8"
            if let reason = await health() {
                return Response(status: .serviceUnavailable, headers: headers,
                                body: .init(byteBuffer: ByteBuffer(string: Self.oneLine(reason) + "\n")))
            }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
        }
    }

    package func makeApplication() -> some ApplicationProtocol {
        let onListening = onListening
        return Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// The first line, at most 200 characters.
    static func oneLine(_ text: String) -> String {
        String((text.split(whereSeparator: \.isNewline).first ?? "unhealthy").prefix(200))
    }

    /// The default health rule over the latest snapshot: unhealthy before the first probe, when
    /// the last one is older than `maxAge` seconds, or when a required repository could not be
    /// read. The reason names no repository, path or error text (the endpoint needs no token).
    public static func healthReason(_ snapshot: StatusSnapshot?, now: Double, maxAge: Double = 300) -> String? {
        guard let snapshot else { return "no status probe has completed yet" }
        if now - snapshot.takenAt > maxAge { return "the last status probe is \(Int(now - snapshot.takenAt)) s old" }
        if !snapshot.requiredRepositoriesRead { return "a required repository could not be read" }
        return nil
    }
}
