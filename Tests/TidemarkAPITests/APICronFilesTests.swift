import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import Tidemark
import TidemarkAPI
import TidemarkCore
import TidemarkTesting

/// `/api/cron/backup?includeFiles=true` (docs/api.md): the file backup after the database one,
/// as `includeFiles` of create; refused (422) without file storage, 400 for another value.
@Suite("Admin API: cron with includeFiles", .serialized)
struct APICronFilesTests {
    let cron = "cron-secret-0123456789abcdef"

    func waitForJob(_ client: some TestClientProtocol, _ id: String, token: String) async throws -> [String: Any] {
        for _ in 0..<200 {
            let job = try await client.execute(uri: "/api/jobs/" + id, method: .get, headers: bearer(token)) { object($0.body) }
            if let status = job["status"] as? String, !["queued", "running"].contains(status) { return job }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("job \(id) did not finish")
        return [:]
    }

    @Test func cronBacksUpTheFilesAfterTheDatabaseWhenAsked() async throws {
        let f = try await APIFixture(files: true)
        let read = try await f.token("viewer", .read)
        try await f.application(f.environment(cronSecret: cron)).test(.router) { client in
            for method in [HTTPRequest.Method.get, .post] {
                let id = try await client.execute(uri: "/api/cron/backup?type=full&includeFiles=true", method: method, headers: bearer(cron)) { r -> String in
                    #expect(r.status == .accepted, "\(String(buffer: r.body))")
                    return object(r.body)["jobId"] as? String ?? ""
                }
                let job = try await waitForJob(client, id, token: read)
                #expect(job["status"] as? String == "succeeded" && job["type"] as? String == "backup-full", "\(job)")
                #expect(f.filesArguments?.hasSuffix(" --stanza main files backup --type full --database-backup 20261201-030000F\n") == true,
                        "\(f.filesArguments ?? "")")
                try FileManager.default.removeItem(atPath: f.scratch.path + "/files-args")
            }
            for query in ["includeFiles=false", ""] {
                let id = try await client.execute(uri: "/api/cron/backup?type=incremental&" + query, method: .get, headers: bearer(cron)) { r -> String in
                    #expect(r.status == .accepted, "\(String(buffer: r.body))")
                    return object(r.body)["jobId"] as? String ?? ""
                }
                #expect(try await waitForJob(client, id, token: read)["status"] as? String == "succeeded")
                #expect(f.filesArguments == nil, "\(query): \(f.filesArguments ?? "")")
            }
            try await client.execute(uri: "/api/cron/backup?includeFiles=yes", method: .get, headers: bearer(cron)) { expectErrorShape($0, .badRequest) }
            #expect(f.filesArguments == nil)
        }
    }

    @Test func includeFilesWithoutFileStorageIs422() async throws {
        let f = try await APIFixture()
        try await f.application(f.environment(cronSecret: cron)).test(.router) { client in
            try await client.execute(uri: "/api/cron/backup?includeFiles=true", method: .post, headers: bearer(cron)) { r in
                expectErrorShape(r, .unprocessableContent)
                #expect((object(r.body)["hint"] as? String)?.contains("files.paths") == true)
            }
        }
    }
}
