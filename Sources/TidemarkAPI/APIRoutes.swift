#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import NIOCore
import TidemarkAudit
import TidemarkCore

/// The admin API's routes (docs/api.md, docs/api/openapi.yaml): tokens and scopes, the body
/// limit, the audit record of each mutating request, the handlers (APIHandlers.swift).
public struct APIRoutes: Sendable {
    public let env: APIEnvironment

    public init(env: APIEnvironment) { self.env = env }

    /// Path → methods: the 405 answers and the tests read it.
    public static let table: [String: Set<HTTPRequest.Method>] = [
        "/api/admin/backup/create": [.post],
        "/api/admin/backup/list": [.get],
        "/api/admin/backup/verify": [.post],
        "/api/admin/backup/restore": [.post],
        "/api/admin/rehearse": [.post],
        "/api/cron/backup": [.get, .post],
        "/api/jobs/{id}": [.get],
        "/api/status": [.get],
        "/metrics": [.get],
        "/healthz": [.get],
    ]

    /// The error middleware and every route; /metrics and /healthz are added by the caller.
    public func add(to router: Router<APIRequestContext>) {
        router.add(middleware: APIErrorMiddleware(routes: Self.table.merging(DashboardRoutes.table) { $0.union($1) }))
        DashboardRoutes(routes: self).add(to: router)
        let h = APIHandlers(routes: self)
        router.post("/api/admin/backup/create") { request, context in
            try await self.mutating(request, context, action: "api-backup-create") { caller, body in
                try await h.create(body, caller: caller)
            }
        }
        router.get("/api/admin/backup/list") { request, context in
            _ = try await self.authorize(request, context, needs: .read)
            return try await h.list()
        }
        router.post("/api/admin/backup/verify") { request, context in
            try await self.mutating(request, context, action: "api-backup-verify") { caller, body in
                try await h.verify(body, caller: caller)
            }
        }
        router.post("/api/admin/backup/restore") { request, context in
            try await self.mutating(request, context, action: "api-backup-restore") { _, body in
                try await h.restore(body)
            }
        }
        router.post("/api/admin/rehearse") { request, context in
            try await self.mutating(request, context, action: "api-rehearse") { caller, _ in
                try await h.rehearse(caller: caller)
            }
        }
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/api/cron/backup", method: method) { request, context in
                try await self.mutating(request, context, action: "api-cron-backup", needs: .cron) { caller, _ in
                    try await h.cron(request.uri.queryParameters.get("type"), includeFiles: request.uri.queryParameters.get("includeFiles"), caller: caller)
                }
            }
        }
        router.get("/api/jobs/{id}") { request, context in
            _ = try await self.authorize(request, context, needs: .read)
            return try await h.job(context.parameters.get("id") ?? "")
        }
        router.get("/api/status") { request, context in
            _ = try await self.authorize(request, context, needs: .read)
            return try await h.status()
        }
    }

    /// A mutating request: authorized, its body read within the limit, handled, and recorded
    /// in the audit log (one entry: the token's name, the client, the outcome).
    func mutating(_ request: Request, _ context: APIRequestContext, action: String, needs: APIToken.Scope = .operate,
                  _ body: (APICaller, [UInt8]) async throws -> (Response, [String: String])) async throws -> Response {
        let caller = try await authorize(request, context, needs: needs)
        var detail = ["method": request.method.rawValue]
        do {
            let bytes = try await readBody(request)
            let (response, learnt) = try await body(caller, bytes)
            detail.merge(learnt) { $1 }
            detail["status"] = String(response.status.code)
            await env.audit(env.event(action, caller: caller.name, client: caller.client, detail: detail, success: true))
            return response
        } catch let failure as APIFailure {
            detail["status"] = String(failure.status.code)
            await env.audit(env.event(action, caller: caller.name, client: caller.client, detail: detail, success: false,
                                      error: failure.error))
            throw failure
        }
    }

    /// The caller, or 401 (no or a wrong token), 403 (a scope too narrow) or 429 (too many
    /// wrong tokens from this address). A wrong token and a refused scope are audited; a
    /// request without any token is not (it guesses nothing).
    func authorize(_ request: Request, _ context: APIRequestContext, needs: APIToken.Scope) async throws -> APICaller {
        let (result, reached) = await env.authenticator.authenticate(request.headers[.authorization], client: context.client)
        var unauthorized = HTTPFields()
        unauthorized[.wwwAuthenticate] = "Bearer"
        switch result {
        case .success(let caller):
            if APIToken.allows(caller.scope, needs) || (needs == .cron && caller.scope == .operate) { return caller }
            await env.audit(env.event("api-denied", caller: caller.name, client: caller.client,
                                      detail: ["path": String(request.uri.path.prefix(200)), "scope": caller.scope.rawValue,
                                               "needs": needs.rawValue], success: false, error: "scope too narrow"))
            let hint = caller.scope == .cron ? "CRON_SECRET opens only /api/cron/backup" :
                "create a token with --scope operate: tidemark token create --name NAME --scope operate"
            throw APIFailure(.forbidden, "token '\(caller.name)' has scope \(caller.scope.rawValue); this route needs \(needs.rawValue)", hint: hint)
        case .failure(let box):
            switch box.failure {
            case .limited(let seconds):
                var headers = HTTPFields()
                headers[.retryAfter] = String(seconds)
                throw APIFailure(.tooManyRequests, "too many failed token attempts from this address",
                                 hint: "wait \(seconds) s (Retry-After) and send a valid token", headers: headers)
            case .missing:
                throw APIFailure(.unauthorized, "missing bearer token",
                                 hint: "send Authorization: Bearer <token> (tidemark token create --name NAME --scope read|operate)",
                                 headers: unauthorized)
            case .wrong:
                await env.audit(env.event("api-auth-failed", caller: nil, client: context.client,
                                          detail: ["path": String(request.uri.path.prefix(200))].merging(reached ? ["rateLimited": "true"] : [:]) { $1 },
                                          success: false, error: "wrong bearer token"))
                throw APIFailure(.unauthorized, "wrong bearer token",
                                 hint: "tidemark token list shows the tokens; a revoked token stops working at once",
                                 headers: unauthorized)
            }
        }
    }

    /// The request's body, at most `api.maxBodyBytes` (413 beyond).
    func readBody(_ request: Request) async throws -> [UInt8] {
        let limit = env.settings.maxBodyBytes
        let tooLarge = APIFailure(.contentTooLarge, "the request body is larger than \(limit) bytes",
                                  hint: "api.maxBodyBytes sets the limit; these routes take small JSON objects")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw tooLarge }
        do {
            return Array(buffer: try await request.body.collect(upTo: limit))
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
    }
}
