import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import Tidemark
import TidemarkAPI
import TidemarkCore
import TidemarkTesting

/// The admin API's routes with HummingbirdTesting over a real repository (tokens as hashes in
/// it, the audit log in it and its mirror) and real child processes for the jobs.
@Suite("Admin API routes", .serialized)
struct APIRouteTests {
    func waitForJob(_ client: some TestClientProtocol, _ id: String, token: String) async throws -> [String: Any] {
        for _ in 0..<200 {
            let job = try await client.execute(uri: "/api/jobs/" + id, method: .get, headers: bearer(token)) { object($0.body) }
            if let status = job["status"] as? String, !["queued", "running"].contains(status) { return job }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("job \(id) did not finish")
        return [:]
    }

    @Test func tokensAreKeptAsHashesInTheRepository() async throws {
        let f = try await APIFixture()
        let registry = TokenRegistry(engine: Engine(f.configuration))
        let text = try await registry.create(name: "grafana", scope: .read)
        #expect(text.hasPrefix("tmk_") && text.count == 68)
        let listed = try await registry.list()
        #expect(listed.map(\.name) == ["grafana"] && listed.first?.scope == .read)
        #expect(listed.first?.sha256 == APIToken.hash(Array(text.utf8)))
        let stored = f.scratch.path + "/repo/main/tokens/grafana"
        let bytes = try #require(FileManager.default.contents(atPath: stored))
        #expect(!String(decoding: bytes, as: UTF8.self).contains(text) && !String(decoding: bytes, as: UTF8.self).contains("grafana\""),
                "an authenticated, encrypted envelope, never the token")
        let mode = try #require(FileManager.default.attributesOfItem(atPath: stored)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        let duplicate = await expectError(.invalidInput) { _ = try await registry.create(name: "grafana", scope: .operate) }
        #expect(duplicate?.message.contains("exists already") == true)
        _ = await expectError(.invalidInput) { _ = try await registry.create(name: "bad/name", scope: .read) }
        try await registry.revoke(name: "grafana")
        #expect(try await registry.list().isEmpty)
        _ = await expectError(.invalidInput) { try await registry.revoke(name: "grafana") }
    }

    @Test func tokensAndScopes() async throws {
        let f = try await APIFixture()
        let read = try await f.token("viewer", .read)
        let operate = try await f.token("ops", .operate)
        let cron = "cron-secret-0123456789abcdef"
        try await f.application(f.environment(cronSecret: cron)).test(.router) { client in
            try await client.execute(uri: "/api/admin/backup/list", method: .get) { r in
                expectErrorShape(r, .unauthorized)
                #expect(r.headers[.wwwAuthenticate] == "Bearer")
            }
            try await client.execute(uri: "/api/admin/backup/list", method: .get, headers: bearer(read + "x")) { expectErrorShape($0, .unauthorized) }
            try await client.execute(uri: "/api/admin/backup/list", method: .get, headers: bearer(read)) { r in
                #expect(r.status == .ok)
                #expect(object(r.body)["backups"] is [Any])
            }
            try await client.execute(uri: "/api/admin/backup/create", method: .post, headers: bearer(read),
                                     body: ByteBuffer(string: #"{"type":"full"}"#)) { expectErrorShape($0, .forbidden) }
            try await client.execute(uri: "/api/admin/backup/create", method: .post, headers: bearer(cron),
                                     body: ByteBuffer(string: #"{"type":"full"}"#)) { expectErrorShape($0, .forbidden) }
            try await client.execute(uri: "/api/status", method: .get, headers: bearer(cron)) { expectErrorShape($0, .forbidden) }
            try await client.execute(uri: "/api/cron/backup?type=full", method: .get, headers: bearer(read)) { expectErrorShape($0, .forbidden) }
            let id = try await client.execute(uri: "/api/admin/backup/create", method: .post, headers: bearer(operate),
                                              body: ByteBuffer(string: #"{"type":"full","includeFiles":false}"#)) { r -> String in
                #expect(r.status == .accepted)
                let id = object(r.body)["jobId"] as? String ?? ""
                #expect(r.headers[.location] == "/api/jobs/" + id)
                return id
            }
            let job = try await waitForJob(client, id, token: read)
            #expect(job["status"] as? String == "succeeded" && job["type"] as? String == "backup-full" && job["requestedBy"] as? String == "ops")
            #expect((job["result"] as? [String: Any])?["backupId"] as? String == "20261201-030000F")
            for method in [HTTPRequest.Method.get, .post] {
                let cronJob = try await client.execute(uri: "/api/cron/backup?type=incremental", method: method, headers: bearer(cron)) { r -> String in
                    #expect(r.status == .accepted, "\(String(buffer: r.body))")
                    return object(r.body)["jobId"] as? String ?? ""
                }
                #expect(try await waitForJob(client, cronJob, token: operate)["requestedBy"] as? String == "CRON_SECRET")
            }
            try await client.execute(uri: "/api/cron/backup?type=weekly", method: .get, headers: bearer(cron)) { expectErrorShape($0, .badRequest) }
            try await client.execute(uri: "/api/status", method: .get, headers: bearer(read)) { r in
                #expect(r.status == .ok, "\(String(buffer: r.body))")
                let body = object(r.body)
                #expect(body["info"] is [String: Any] && body["pitrWindows"] is [String: Any])
            }
        }
        // One audit entry per mutating request, with the token's name; never the token.
        let entries = try f.auditEntries().compactMap { $0["entry"] as? [String: Any] }
        let creates = entries.filter { $0["action"] as? String == "api-backup-create" && $0["outcome"] as? String == "success" }
        #expect(creates.count == 1)
        #expect((creates.first?["actor"] as? [String: Any])?["token"] as? String == "ops")
        #expect(entries.filter { $0["action"] as? String == "api-cron-backup" && $0["outcome"] as? String == "success" }.count == 2)
        #expect(entries.contains { $0["action"] as? String == "api-denied" })
        let mirrorText = String(decoding: FileManager.default.contents(atPath: f.mirror) ?? Data(), as: UTF8.self)
        #expect(!mirrorText.contains(operate) && !mirrorText.contains(read) && !mirrorText.contains(cron))
    }

    @Test func bodiesAndErrorShapes() async throws {
        let f = try await APIFixture()
        let operate = try await f.token("ops", .operate)
        try await f.application(f.environment(maxBodyBytes: 1024)).test(.router) { client in
            let create = "/api/admin/backup/create"
            for bad in ["", "{", "[1]", #"{"type":3}"#, #"{"type":"weekly"}"#, #"{"includeFiles":true}"#, #"{"type":"full","includeFiles":"yes"}"#,
                        #"{"type":"full","includeFiles":null}"#, #"{"type":null}"#] {
                try await client.execute(uri: create, method: .post, headers: bearer(operate), body: ByteBuffer(string: bad)) {
                    expectErrorShape($0, .badRequest)
                }
            }
            try await client.execute(uri: create, method: .post, headers: bearer(operate),
                                     body: ByteBuffer(string: "{\"type\":\"full\",\"pad\":\"" + String(repeating: "x", count: 2000) + "\"}")) {
                expectErrorShape($0, .contentTooLarge)
            }
            let restore = "/api/admin/backup/restore"
            for body in [#"{"type":"database"}"#, #"{"type":"database","dryRun":false}"#] {
                try await client.execute(uri: restore, method: .post, headers: bearer(operate), body: ByteBuffer(string: body)) { r in
                    expectErrorShape(r, .forbidden)
                    #expect(object(r.body)["error"] as? String == "restores run on the host: tidemark restore")
                }
            }
            try await client.execute(uri: restore, method: .post, headers: bearer(operate),
                                     body: ByteBuffer(string: #"{"type":"database","dryRun":true,"targetTime":"2026-13-45 99:00:00+00"}"#)) {
                expectErrorShape($0, .unprocessableContent)
            }
            try await client.execute(uri: restore, method: .post, headers: bearer(operate),
                                     body: ByteBuffer(string: #"{"type":"database","dryRun":true,"backupId":"20261201-030000F"}"#)) { r in
                #expect(r.status == .ok)
                #expect(object(r.body)["backup"] as? String == "20261201-030000F", "plan --json's own output")
            }
            try await client.execute(uri: "/api/admin/backup/verify", method: .post, headers: bearer(operate),
                                     body: ByteBuffer(string: #"{"type":"files"}"#)) { expectErrorShape($0, .notFound) }
            try await client.execute(uri: "/api/admin/backup/verify", method: .post, headers: bearer(operate),
                                     body: ByteBuffer(string: #"{"type":"database","backupId":"nope"}"#)) { expectErrorShape($0, .badRequest) }
            try await client.execute(uri: "/api/nothing", method: .get, headers: bearer(operate)) { expectErrorShape($0, .notFound) }
            try await client.execute(uri: "/api/jobs/unknown", method: .get, headers: bearer(operate)) { expectErrorShape($0, .notFound) }
            try await client.execute(uri: create, method: .delete, headers: bearer(operate)) { r in
                expectErrorShape(r, .methodNotAllowed)
                #expect(r.headers[.allow] == "POST")
            }
            try await client.execute(uri: "/api/admin/backup/list", method: .post, headers: bearer(operate)) { expectErrorShape($0, .methodNotAllowed) }
            // includeFiles without a files section: refused, with the fix.
            try await client.execute(uri: create, method: .post, headers: bearer(operate),
                                     body: ByteBuffer(string: #"{"type":"incremental","includeFiles":true}"#)) { r in
                expectErrorShape(r, .unprocessableContent)
                #expect((object(r.body)["hint"] as? String)?.contains("files.paths") == true)
            }
            #expect(f.filesArguments == nil)
        }
    }

    /// includeFiles: the database backup, then `files backup` of that backup in the same job;
    /// a failing file backup fails the job with its ERROR and HINT, the backup id kept.
    @Test func includeFilesBacksUpTheFilesAfterTheDatabase() async throws {
        let f = try await APIFixture(files: true)
        let operate = try await f.token("ops", .operate)
        try await f.application(f.environment()).test(.router) { client in
            let create = "/api/admin/backup/create"
            let id = try await client.execute(uri: create, method: .post, headers: bearer(operate),
                                              body: ByteBuffer(string: #"{"type":"incremental","includeFiles":true}"#)) { r -> String in
                #expect(r.status == .accepted, "\(String(buffer: r.body))")
                #expect(object(r.body)["warning"] == nil)
                return object(r.body)["jobId"] as? String ?? ""
            }
            let job = try await waitForJob(client, id, token: operate)
            #expect(job["status"] as? String == "succeeded", "\(job)")
            let result = job["result"] as? [String: Any]
            #expect(result?["backupId"] as? String == "20261201-030000F")
            #expect((result?["output"] as? String)?.contains("files snapshot 0123abcd (incremental) complete") == true, "\(job)")
            #expect(f.filesArguments?.hasSuffix(" --stanza main files backup --type incremental --database-backup 20261201-030000F\n") == true, "\(f.filesArguments ?? "")")

            _ = FileManager.default.createFile(atPath: f.scratch.path + "/files-fail", contents: Data())
            let failing = try await client.execute(uri: create, method: .post, headers: bearer(operate),
                                                   body: ByteBuffer(string: #"{"type":"full","includeFiles":true}"#)) { object($0.body)["jobId"] as? String ?? "" }
            let failed = try await waitForJob(client, failing, token: operate)
            #expect(failed["status"] as? String == "failed")
            #expect(failed["error"] as? String == "database backup 20261201-030000F succeeded; the file backup failed: unable to read '/srv/uploads': permission denied")
            #expect(failed["hint"] as? String == "run it as a user that can read the files")
            #expect((failed["result"] as? [String: Any])?["backupId"] as? String == "20261201-030000F", "the database backup stands")
            #expect((failed["result"] as? [String: Any])?["exitCode"] as? Int == 3)
            #expect(f.filesArguments?.hasSuffix(" --stanza main files backup --type full --database-backup 20261201-030000F\n") == true, "\(f.filesArguments ?? "")")

            // Without includeFiles no file backup runs, files configured or not.
            try FileManager.default.removeItem(atPath: f.scratch.path + "/files-args")
            let plain = try await client.execute(uri: create, method: .post, headers: bearer(operate),
                                                 body: ByteBuffer(string: #"{"type":"full"}"#)) { object($0.body)["jobId"] as? String ?? "" }
            #expect(try await waitForJob(client, plain, token: operate)["status"] as? String == "succeeded")
            #expect(f.filesArguments == nil)
        }
    }

    @Test func oneJobAtATimeAndShutdownStopsIt() async throws {
        let f = try await APIFixture()
        let operate = try await f.token("ops", .operate)
        _ = FileManager.default.createFile(atPath: f.holdFile, contents: Data())
        let env = f.environment()
        try await f.application(env).test(.router) { client in
            let first = try await client.execute(uri: "/api/admin/rehearse", method: .post, headers: bearer(operate)) { r -> String in
                #expect(r.status == .accepted)
                return object(r.body)["jobId"] as? String ?? ""
            }
            try await client.execute(uri: "/api/admin/backup/create", method: .post, headers: bearer(operate),
                                     body: ByteBuffer(string: #"{"type":"full"}"#)) { r in
                expectErrorShape(r, .conflict)
                #expect(object(r.body)["jobId"] as? String == first)
            }
            for _ in 0..<100 {
                let status = try await client.execute(uri: "/api/jobs/" + first, method: .get, headers: bearer(operate)) { object($0.body)["status"] as? String }
                if status == "running" { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            await env.jobs.shutdown()
            let job = try await client.execute(uri: "/api/jobs/" + first, method: .get, headers: bearer(operate)) { object($0.body) }
            #expect(job["status"] as? String == "cancelled", "\(job)")
            #expect(job["error"] is String && job["hint"] is String)
        }
    }

    @Test func wrongTokensAreRateLimitedAndAudited() async throws {
        let f = try await APIFixture()
        let read = try await f.token("viewer", .read)
        try await f.application(f.environment()).test(.router) { client in
            for i in 0..<10 {
                try await client.execute(uri: "/api/status", method: .get, headers: bearer("tmk_guess\(i)")) { expectErrorShape($0, .unauthorized) }
            }
            try await client.execute(uri: "/api/status", method: .get) { expectErrorShape($0, .unauthorized) }
            for token in ["tmk_guess10", read] {
                try await client.execute(uri: "/api/status", method: .get, headers: bearer(token)) { r in
                    expectErrorShape(r, .tooManyRequests)
                    let wait = Int(r.headers[.retryAfter] ?? "") ?? 0
                    #expect(wait >= 1 && wait <= 60)
                }
            }
        }
        let failed = try f.auditEntries().compactMap { $0["entry"] as? [String: Any] }.filter { $0["action"] as? String == "api-auth-failed" }
        #expect(failed.count == 10)
        #expect(failed.contains { ($0["detail"] as? [String: String])?["rateLimited"] == "true" })
        let mirrorText = String(decoding: FileManager.default.contents(atPath: f.mirror) ?? Data(), as: UTF8.self)
        #expect(!mirrorText.contains("tmk_guess"), "tokens are never logged, wrong ones neither")
    }
}
