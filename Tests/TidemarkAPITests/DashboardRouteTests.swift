import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import Tidemark
@testable import TidemarkAPI
import TidemarkCore
import TidemarkServer
import TidemarkTesting

/// The dashboard's routes with HummingbirdTesting over a real repository: login and its
/// cookie, a wrong token, CSRF, scopes, escaping.
@Suite("Dashboard routes", .serialized)
struct DashboardRouteTests {
    static let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    func login(_ client: some TestClientProtocol, _ token: String) async throws -> (cookie: String, setCookie: String) {
        try await client.execute(uri: "/admin/login", method: .post, headers: Self.form, body: ByteBuffer(string: "token=" + token)) { r in
            #expect(r.status == .seeOther && r.headers[.location] == "/admin/backup")
            let set = r.headers[.setCookie] ?? ""
            return (String(set.split(separator: ";").first ?? ""), set)
        }
    }

    func csrf(_ html: String) -> String {
        guard let r = html.range(of: "name=\"csrf\" value=\"") else { return "" }
        return String(html[r.upperBound...].prefix(64))
    }

    @Test func loginSetsASessionCookieAndAWrongTokenIsRefused() async throws {
        let f = try await APIFixture()
        let read = try await f.token("viewer", .read)
        try await f.application(f.environment()).test(.router) { client in
            try await client.execute(uri: "/admin/backup", method: .get) { r in
                #expect(r.status == .seeOther && r.headers[.location] == "/admin/login")
            }
            try await client.execute(uri: "/admin/login", method: .get) { r in
                #expect(r.status == .ok && r.headers[.contentType] == "text/html; charset=utf-8")
                #expect(String(buffer: r.body).contains("name=\"token\""))
            }
            let (cookie, set) = try await login(client, read)
            #expect(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/admin") && !set.contains("Secure"))
            #expect(cookie.hasPrefix("tidemark_session=") && cookie.count == "tidemark_session=".count + 64)
            try await client.execute(uri: "/admin/backup", method: .get, headers: [.cookie: cookie]) { r in
                #expect(r.status == .ok)
                let html = String(buffer: r.body)
                #expect(html.contains("Recovery timeline") && html.contains("<svg") && html.contains("Backup history"))
                #expect(!html.contains("http://") || !html.contains("<link"), "no external resources")
            }
            try await client.execute(uri: "/admin/login", method: .post, headers: Self.form, body: ByteBuffer(string: "token=" + read + "x")) { r in
                #expect(r.status == .unauthorized)
                #expect(r.headers[.setCookie] == nil)
                #expect(String(buffer: r.body).contains("Wrong token"))
            }
            try await client.execute(uri: "/admin/backup", method: .get, headers: [.cookie: "tidemark_session=" + String(repeating: "0", count: 64)]) { r in
                #expect(r.status == .seeOther)
            }
        }
        let entries = try f.auditEntries().compactMap { $0["entry"] as? [String: Any] }
        #expect(entries.filter { $0["action"] as? String == "api-auth-failed" }.count == 1)
        #expect(entries.contains { $0["action"] as? String == "dashboard-login" && $0["outcome"] as? String == "success"
            && ($0["actor"] as? [String: Any])?["token"] as? String == "viewer" })
    }

    @Test func wrongTokensAtTheLoginAreRateLimited() async throws {
        let f = try await APIFixture()
        try await f.application(f.environment()).test(.router) { client in
            var statuses: [HTTPResponse.Status] = []
            for i in 0..<12 {
                let status = try await client.execute(uri: "/admin/login", method: .post, headers: Self.form,
                                                      body: ByteBuffer(string: "token=tmk_wrong\(i)")) { $0.status }
                statuses.append(status)
            }
            #expect(statuses.prefix(10).allSatisfy { $0 == .unauthorized } && statuses.last == .tooManyRequests, "\(statuses)")
        }
    }

    @Test func postsNeedTheSessionsCSRFTokenAndOperateScope() async throws {
        let f = try await APIFixture()
        let read = try await f.token("viewer", .read)
        let operate = try await f.token("ops", .operate)
        try await f.application(f.environment()).test(.router) { client in
            let (ops, _) = try await login(client, operate)
            let page = try await client.execute(uri: "/admin/backup", method: .get, headers: [.cookie: ops]) { String(buffer: $0.body) }
            let token = csrf(page)
            #expect(token.count == 64)
            #expect(page.contains("id=\"action-incremental\">"), "enabled for operate")
            var headers = Self.form
            headers[.cookie] = ops
            for body in ["action=incremental", "action=incremental&csrf=" + String(repeating: "a", count: 64)] {
                try await client.execute(uri: "/admin/backup/action", method: .post, headers: headers, body: ByteBuffer(string: body)) { r in
                    #expect(r.status == .forbidden, "\(body)")
                }
            }
            try await client.execute(uri: "/admin/backup/action", method: .post, headers: Self.form,
                                     body: ByteBuffer(string: "action=incremental&csrf=" + token)) { #expect($0.status == .forbidden, "no session") }
            try await client.execute(uri: "/admin/logout", method: .post, headers: headers, body: ByteBuffer(string: "")) { #expect($0.status == .forbidden) }
            let location = try await client.execute(uri: "/admin/backup/action", method: .post, headers: headers,
                                                    body: ByteBuffer(string: "action=incremental&csrf=" + token)) { r -> String in
                #expect(r.status == .seeOther)
                return r.headers[.location] ?? ""
            }
            #expect(location.hasPrefix("/admin/jobs/"))
            var done = ""
            for _ in 0..<200 {
                let html = try await client.execute(uri: location, method: .get, headers: [.cookie: ops]) { String(buffer: $0.body) }
                if !html.contains("http-equiv=\"refresh\"") { done = html; break }
                #expect(html.contains("http-equiv=\"refresh\""))
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(done.contains(">succeeded<") && done.contains("20261201-030000F"))

            let (viewer, _) = try await login(client, read)
            let readPage = try await client.execute(uri: "/admin/backup", method: .get, headers: [.cookie: viewer]) { String(buffer: $0.body) }
            #expect(readPage.contains("id=\"action-incremental\" disabled"))
            var readHeaders = Self.form
            readHeaders[.cookie] = viewer
            try await client.execute(uri: "/admin/backup/action", method: .post, headers: readHeaders,
                                     body: ByteBuffer(string: "action=full&csrf=" + csrf(readPage))) { r in
                #expect(r.status == .forbidden && String(buffer: r.body).contains("scope read"))
            }
            try await client.execute(uri: "/admin/logout", method: .post, headers: readHeaders, body: ByteBuffer(string: "csrf=" + csrf(readPage))) { r in
                #expect(r.status == .seeOther && r.headers[.setCookie]?.contains("Max-Age=0") == true)
            }
            try await client.execute(uri: "/admin/backup", method: .get, headers: [.cookie: viewer]) { #expect($0.status == .seeOther) }
        }
        let entries = try f.auditEntries().compactMap { $0["entry"] as? [String: Any] }
        #expect(entries.contains { $0["action"] as? String == "dashboard-incremental" && $0["outcome"] as? String == "success" })
    }

    @Test func thePageEscapesAHostileLabelAndHint() throws {
        let hostile = "<script>alert('x')</script>"
        let entry = """
        {"backups":[{"id":"20261201-030000F","type":"full","label":"\(hostile)","startTime":"2026-12-01 03:00:00+00",
        "stopTime":"2026-12-01 03:05:00+00","startLSN":"0/2000028","stopLSN":"0/3000000","timeline":1,"size":1048576,"storedSize":4096,
        "durationSeconds":300,"postgresVersion":150000,"systemIdentifier":"1","repository":"local\(hostile)"}],
        "repositories":[]}
        """
        let list = try JSONDecoder().decode(BackupList.self, from: Data(entry.utf8))
        var state = ServiceState()
        var record = ServiceState.JobRecord()
        record.lastOutcome = "failed"
        record.lastError = "backup failed " + hostile
        record.lastHints = ["HINT " + hostile]
        state.jobs["backup-<b>"] = record
        let session = DashboardSessions.Session(id: "s", caller: APICaller(name: "n<i>", scope: .read, client: "local"), csrf: "c\"x", expires: 0)
        let page = DashboardPage(status: nil, statusError: hostile, list: list, listError: nil, state: state, jobs: [], session: session,
                                 now: Date(timeIntervalSince1970: 1_796_200_000), sort: "time", descending: true, filter: hostile)
        let html = page.html
        for bad in ["<script", "backup-<b>", "n<i>", "c\"x"] { #expect(!html.contains(bad), "\(bad)") }
        #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"))
        let shown = DashboardPage(status: nil, statusError: nil, list: list, listError: nil, state: state, jobs: [], session: session,
                                  now: Date(timeIntervalSince1970: 1_796_200_000), sort: "time", descending: true, filter: "").html
        #expect(shown.contains("HINT: HINT &lt;script&gt;") && shown.contains("<tr class=\"backup\">"))
    }
}
