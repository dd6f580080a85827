import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ServiceLifecycle
import Testing
import TidemarkCore
import TidemarkTesting
@testable import TidemarkServer

@Suite("Metrics HTTP server")
struct MetricsHTTPServerTests {
    static let token = "s3cret-token-0123456789abcdef"

    func server(token: String? = Self.token, health: @escaping @Sendable () async -> String? = { nil }) -> MetricsHTTPServer {
        let metrics = ServiceMetrics(stanza: "main")
        metrics.update(from: sampleSnapshot())
        return MetricsHTTPServer(configuration: HTTPListenConfiguration(host: "127.0.0.1", port: 0, token: token.map { Secret(Array($0.utf8)) }),
                                 metrics: metrics, health: health, logger: Logger(label: "test"))
    }

    @Test func metricsNeedTheBearerToken() async throws {
        let app = Application(router: server().makeRouter())
        try await app.test(.router) { client in
            for header in [nil, "Bearer wrong", "Bearer " + Self.token + "x", "Basic " + Self.token, "bearer"] as [String?] {
                var headers = HTTPFields()
                if let header { headers[.authorization] = header }
                try await client.execute(uri: "/metrics", method: .get, headers: headers) { response in
                    #expect(response.status == .unauthorized, "\(header ?? "no header")")
                    #expect(response.headers[.contentType] == "application/json")
                    let body = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: String]
                    #expect(body?["error"] != nil && body?["hint"] != nil)
                    #expect(!String(buffer: response.body).contains("tidemark_"))
                    #expect(!String(buffer: response.body).contains(Self.token))
                }
            }
            for scheme in ["Bearer ", "bearer "] {
                try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: scheme + Self.token]) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
                    let text = String(buffer: response.body)
                    #expect(sample(text, "tidemark_rpo_seconds", [("stanza", "main")]) == 42)
                    for name in ["tidemark_up", "tidemark_repository_bytes", "tidemark_pitr_window_start_timestamp_seconds"] {
                        #expect(text.contains("# TYPE \(name) gauge"))
                    }
                }
            }
        }
    }

    @Test func healthNeedsNoTokenAndSaysOneLine() async throws {
        let healthy = Application(router: server().makeRouter())
        try await healthy.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "ok\n")
            }
        }
        let sick = Application(router: server(health: { "a required repository could not be read\nsecond line" }).makeRouter())
        try await sick.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body) == "a required repository could not be read\n")
            }
        }
    }

    @Test func loopbackWithoutATokenIsOpenElsewhereRefused() async throws {
        let open = Application(router: server(token: nil).makeRouter())
        try await open.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
        for listen in ["127.0.0.1:8470", "[::1]:9000", "localhost:1", "127.1.2.3:80"] {
            #expect(throws: Never.self) { try HTTPListenConfiguration(listen: listen, tokenFile: nil) }
        }
        for listen in ["0.0.0.0:8470", "[::]:8470", "10.0.0.5:8470", "example.org:80"] {
            let error = #expect(throws: TidemarkError.self) { try HTTPListenConfiguration(listen: listen, tokenFile: nil) }
            #expect(error?.code == .configuration)
        }
        for listen in ["8470", "127.0.0.1:", "127.0.0.1:70000", "[::1]8470", "a:b:1"] {
            #expect(throws: TidemarkError.self) { try HTTPListenConfiguration(listen: listen, tokenFile: nil) }
        }
        let c = try HTTPListenConfiguration(tokenFile: nil)
        #expect(c.host == "127.0.0.1" && c.port == 8470)
    }

    @Test func theTokenComesFromAFileThatOthersCannotRead() throws {
        let scratch = try Scratch()
        let path = try scratch.write("token", Array((Self.token + "\n").utf8))
        chmod(path, 0o644)
        #expect(throws: TidemarkError.self) { try HTTPListenConfiguration(listen: "0.0.0.0:1", tokenFile: path) }
        chmod(path, 0o600)
        let c = try HTTPListenConfiguration(listen: "0.0.0.0:1", tokenFile: path)
        #expect(c.authorizes("Bearer " + Self.token))
        #expect(!c.authorizes("Bearer " + Self.token.dropLast()))
        #expect(!"\(c)".contains(Self.token))
    }

    @Test func constantTimeComparison() {
        #expect(HTTPListenConfiguration.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!HTTPListenConfiguration.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!HTTPListenConfiguration.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!HTTPListenConfiguration.constantTimeEqual([], Array("a".utf8)))
    }

    /// The real service on a free port, scraped by AsyncHTTPClient, stopped by graceful shutdown.
    @Test(.timeLimit(.minutes(1))) func liveScrape() async throws {
        let port = AsyncStream.makeStream(of: Int.self)
        let base = server()
        let live = MetricsHTTPServer(configuration: base.configuration, metrics: base.metrics, health: base.health,
                                     logger: base.logger, onListening: { port.continuation.yield($0) })
        let group = ServiceGroup(configuration: .init(services: [live], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = port.stream.makeAsyncIterator()
            let bound = try #require(await iterator.next())
            #expect(bound > 0)
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(bound)/metrics")
                request.headers.add(name: "Authorization", value: "Bearer " + Self.token)
                let response = try await client.execute(request, timeout: .seconds(10))
                #expect(response.status == .ok)
                #expect(response.headers.first(name: "Content-Type") == MetricsHTTPServer.contentType)
                let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
                #expect(sample(text, "tidemark_archive_backlog_segments", [("stanza", "main")]) == 3)
                let refused = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(bound)/metrics"), timeout: .seconds(10))
                #expect(refused.status == .unauthorized)
                let health = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(bound)/healthz"), timeout: .seconds(10))
                #expect(health.status == .ok)
            } catch {
                try await client.shutdown()
                throw error
            }
            try await client.shutdown()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
