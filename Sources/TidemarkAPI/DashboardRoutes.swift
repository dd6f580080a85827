#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import Tidemark
import TidemarkCore

/// The dashboard's routes (docs/api.md, "The dashboard"): login with a token (the same
/// APIAuthenticator: rate-limited, audited) → a session cookie; the page; the buttons (the
/// API's jobs, operate scope, CSRF-checked); a job's page refreshing itself until it is done.
struct DashboardRoutes: Sendable {
    let routes: APIRoutes
    var env: APIEnvironment { routes.env }
    var sessions: DashboardSessions { env.sessions }
    typealias H = DashboardHTML

    static let table: [String: Set<HTTPRequest.Method>] = [
        "/admin/login": [.get, .post], "/admin/logout": [.post], "/admin/backup": [.get],
        "/admin/backup/action": [.post], "/admin/jobs/{id}": [.get],
    ]

    struct LoginForm: Decodable { var token: String? }
    struct CSRFForm: Decodable { var csrf: String?; var action: String? }

    func add(to router: Router<APIRequestContext>) {
        router.get("/admin") { _, _ in H.redirect("/admin/backup") }
        router.get("/admin/login") { request, _ in
            if await session(request) != nil { return H.redirect("/admin/backup") }
            return H.response(Self.loginPage(error: nil))
        }
        router.post("/admin/login") { request, context in try await login(request, context) }
        router.post("/admin/logout") { request, context in
            let (session, _) = try await checked(request)
            await sessions.close(session.id)
            var headers = HTTPFields()
            headers[.setCookie] = DashboardSessions.cookie("", secure: env.settings.tls != nil, maxAge: 0)
            return H.redirect("/admin/login", headers: headers)
        }
        router.get("/admin/backup") { request, _ in
            guard let session = await session(request) else { return H.redirect("/admin/login") }
            return H.response(await page(request, session))
        }
        router.post("/admin/backup/action") { request, context in try await action(request, context) }
        router.get("/admin/jobs/{id}") { request, context in
            guard let session = await session(request) else { return H.redirect("/admin/login") }
            let id = context.parameters.get("id") ?? ""
            guard let job = await env.jobs.job(id) else {
                return H.message(.notFound, "No such job", "no job '\(String(id.prefix(64)))'",
                                 hint: "jobs are kept in memory while the service runs (the last 200)", link: "/admin/backup")
            }
            _ = session
            return H.response(Self.jobPage(job))
        }
    }

    func session(_ request: Request) async -> DashboardSessions.Session? {
        await sessions.find(DashboardSessions.sessionID(cookieHeader: request.headers[.cookie]))
    }

    /// The session and the form of a POST, or a 403 page: no session, or a missing or wrong
    /// CSRF token (compared in constant time).
    func checked(_ request: Request) async throws -> (DashboardSessions.Session, CSRFForm) {
        guard let session = await session(request) else {
            throw DashboardRefusal(H.message(.forbidden, "Not logged in", "this form needs a session", hint: "log in again"))
        }
        let bytes = try await routes.readBody(request)
        let form = (try? URLEncodedFormDecoder().decode(CSRFForm.self, from: String(decoding: bytes, as: UTF8.self))) ?? CSRFForm()
        guard let csrf = form.csrf, APIToken.constantTimeEqual(Array(csrf.utf8), Array(session.csrf.utf8)) else {
            throw DashboardRefusal(H.message(.forbidden, "Refused", "the form's CSRF token is missing or wrong",
                                             hint: "reload the dashboard and press the button again", link: "/admin/backup"))
        }
        return (session, form)
    }

    func login(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let bytes = try await routes.readBody(request)
        let form = (try? URLEncodedFormDecoder().decode(LoginForm.self, from: String(decoding: bytes, as: UTF8.self))) ?? LoginForm()
        let token = (form.token ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { return H.response(Self.loginPage(error: "Enter a token."), status: .unauthorized) }
        let (result, reached) = await env.authenticator.authenticate("Bearer " + token, client: context.client)
        switch result {
        case .success(let caller) where caller.scope == .read || caller.scope == .operate:
            let session = await sessions.open(caller)
            await env.audit(env.event("dashboard-login", caller: caller.name, client: caller.client, detail: ["scope": caller.scope.rawValue], success: true))
            var headers = HTTPFields()
            headers[.setCookie] = DashboardSessions.cookie(session.id, secure: env.settings.tls != nil, maxAge: 12 * 3600)
            return H.redirect("/admin/backup", headers: headers)
        case .success(let caller):
            await env.audit(env.event("dashboard-login", caller: caller.name, client: caller.client, detail: [:], success: false,
                                      error: "CRON_SECRET cannot log in"))
            return H.response(Self.loginPage(error: "CRON_SECRET opens only /api/cron/backup: log in with a read or operate token."), status: .forbidden)
        case .failure(let box):
            switch box.failure {
            case .limited(let seconds):
                var headers = HTTPFields()
                headers[.retryAfter] = String(seconds)
                return H.response(Self.loginPage(error: "Too many wrong tokens from this address: wait \(seconds) s."), status: .tooManyRequests, headers: headers)
            case .missing, .wrong:
                await env.audit(env.event("api-auth-failed", caller: nil, client: context.client,
                                          detail: ["path": "/admin/login"].merging(reached ? ["rateLimited": "true"] : [:]) { $1 },
                                          success: false, error: "wrong token at the dashboard login"))
                return H.response(Self.loginPage(error: "Wrong token. tidemark token list shows the tokens; a revoked token stops working at once."),
                                  status: .unauthorized)
            }
        }
    }

    func action(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let (session, form) = try await checked(request)
        let caller = APICaller(name: session.caller.name, scope: session.caller.scope, client: context.client)
        guard caller.scope == .operate else {
            await env.audit(env.event("api-denied", caller: caller.name, client: caller.client, detail: ["path": "/admin/backup/action"],
                                      success: false, error: "scope too narrow"))
            return H.message(.forbidden, "Refused", "token '\(caller.name)' has scope \(caller.scope.rawValue); the buttons need operate",
                             hint: "log in with a token created by: tidemark token create --name NAME --scope operate", link: "/admin/backup")
        }
        let h = APIHandlers(routes: routes)
        let name = form.action ?? ""
        let audit = "dashboard-" + name
        do {
            let detail: [String: String]
            switch name {
            case "full", "incremental":
                (_, detail) = try await h.create(Array(#"{"type":"\#(name)"}"#.utf8), caller: caller)
            case "verify": (_, detail) = try await h.verify(Array(#"{"type":"database"}"#.utf8), caller: caller)
            case "rehearse": (_, detail) = try await h.rehearse(caller: caller)
            default:
                return H.message(.badRequest, "Unknown action", "no action '\(String(name.prefix(40)))'", hint: "use the dashboard's buttons", link: "/admin/backup")
            }
            await env.audit(env.event(audit, caller: caller.name, client: caller.client, detail: detail, success: true))
            return H.redirect("/admin/jobs/" + (detail["jobId"] ?? ""))
        } catch let failure as APIFailure {
            await env.audit(env.event(audit, caller: caller.name, client: caller.client, detail: [:], success: false, error: failure.error))
            if let running = failure.extra["jobId"] { return H.redirect("/admin/jobs/" + running) }
            return H.message(failure.status, "Not started", failure.error, hint: failure.hint, link: "/admin/backup")
        }
    }

    func page(_ request: Request, _ session: DashboardSessions.Session) async -> String {
        let view = await env.listCache.current()
        let list = view.list, listError = view.error
        let state = try? env.context.stateStore.load()
        // The list's windows and the service's snapshot: /api/status's values without a second
        // read of the whole WAL archive per page load (info).
        let status = DashboardPage.Facts(list: list, snapshot: env.snapshot(), state: state)
        let q = request.uri.queryParameters
        let sort = q.get("sort").flatMap { ["time", "type", "size", "duration", "repository"].contains($0) ? $0 : nil } ?? "time"
        let page = DashboardPage(status: status, statusError: nil, list: list, listError: listError,
                                 state: state, jobs: env.context.settings.schedule.jobs, session: session,
                                 now: env.context.now(), sort: sort, descending: q.get("dir") != "asc", filter: String((q.get("q") ?? "").prefix(200)),
                                 page: max(1, q.get("page").flatMap { Int($0) } ?? 1), listReadAt: view.readAt,
                                 restorePoints: await env.restorePoints.current())
        return page.html
    }

    static func loginPage(error: String?) -> String {
        let message = error.map { "<p class=\"bad\" id=\"login-error\">\(H.escape($0))</p>" } ?? ""
        let body = """
        <section class="login"><h2>Log in</h2>\(message)
        <form method="post" action="/admin/login"><p><label for="token">API token (scope read or operate)</label><br>
        <input type="password" id="token" name="token" autocomplete="off" required></p><p><button type="submit" id="login">Log in</button></p></form>
        <p class="hint">Create one on the host: tidemark token create --name NAME --scope read|operate</p></section>
        """
        return H.page(title: "Log in", body: body)
    }

    static func jobPage(_ job: APIJob) -> String {
        let done = !["queued", "running"].contains(job.status)
        let cls = job.status == "succeeded" ? "ok" : (done ? "bad" : "warn")
        var body = "<section id=\"job\"><h2>Job <code>\(H.escape(job.id))</code>: \(H.escape(job.type))</h2>" +
            "<p>Status: <b class=\"\(cls)\" id=\"job-status\">\(H.escape(job.status))</b> · \(H.duration(job.progress.elapsedSeconds)) · requested by \(H.escape(job.requestedBy))</p>"
        if let id = job.result?.backupId { body += "<p>Backup: <code id=\"job-backup\">\(H.escape(id))</code></p>" }
        if let rto = job.result?.rehearsalRTOSeconds { body += "<p>Measured RTO: \(H.duration(rto))</p>" }
        if let e = job.error { body += "<p class=\"bad\">\(H.escape(e))</p>" }
        if let hint = job.hint { body += "<p class=\"hint\">HINT: \(H.escape(hint))</p>" }
        if let out = job.result?.output, !out.isEmpty { body += "<pre class=\"scroll\">\(H.escape(out))</pre>" }
        body += done ? "<p><a href=\"/admin/backup\" id=\"back\">Back to the dashboard</a></p>" : "<p class=\"hint\">This page refreshes itself until the job is done.</p>"
        return H.page(title: "Job", body: body + "</section>", refreshSeconds: done ? nil : 2)
    }
}

/// A refused dashboard request: its HTML page.
struct DashboardRefusal: Error { let response: Response; init(_ r: Response) { response = r } }
