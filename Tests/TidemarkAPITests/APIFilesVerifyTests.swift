import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import Tidemark
import TidemarkAPI
import TidemarkCore
import TidemarkTesting

/// `POST /api/admin/backup/verify {"type":"files"}` (docs/api.md): one file snapshot of the
/// repository, verified by a job that runs `tidemark verify --files-snapshot ID`.
@Suite("Admin API: verify a file snapshot", .serialized)
struct APIFilesVerifyTests {
    let verify = "/api/admin/backup/verify"

    func waitForJob(_ client: some TestClientProtocol, _ id: String, token: String) async throws -> [String: Any] {
        for _ in 0..<200 {
            let job = try await client.execute(uri: "/api/jobs/" + id, method: .get, headers: bearer(token)) { object($0.body) }
            if let status = job["status"] as? String, !["queued", "running"].contains(status) { return job }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("job \(id) did not finish")
        return [:]
    }

    @Test func aFileSnapshotIsVerifiedByItsIdOrTheNewestAndAnUnknownOneIs404() async throws {
        let f = try await APIFixture(files: true)
        let operate = try await f.token("ops", .operate)
        let uploads = f.scratch.path + "/uploads"
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        try Data("avatar".utf8).write(to: URL(fileURLWithPath: uploads + "/a.jpg"))
        let engine = Engine(f.configuration)
        let first = try await engine.filesBackup(type: .full, label: nil).snapshot.id
        let newest = try await engine.filesBackup(type: .incremental, label: nil).snapshot.id

        try await f.application(f.environment()).test(.router) { client in
            for (body, expected) in [(#"{"type":"files","backupId":"\#(first)"}"#, first), (#"{"type":"files"}"#, newest)] {
                let id = try await client.execute(uri: verify, method: .post, headers: bearer(operate), body: ByteBuffer(string: body)) { r -> String in
                    #expect(r.status == .accepted, "\(String(buffer: r.body))")
                    return object(r.body)["jobId"] as? String ?? ""
                }
                let job = try await waitForJob(client, id, token: operate)
                #expect(job["status"] as? String == "succeeded" && job["type"] as? String == "verify", "\(job)")
                #expect(f.verifyArguments?.hasSuffix(" verify --files-snapshot \(expected)\n") == true, "\(f.verifyArguments ?? "")")
            }
            // A snapshot id that does not exist: 404 naming it, no job.
            let unknown = String(repeating: "ab", count: 16)
            try FileManager.default.removeItem(atPath: f.scratch.path + "/verify-args")
            try await client.execute(uri: verify, method: .post, headers: bearer(operate),
                                     body: ByteBuffer(string: #"{"type":"files","backupId":"\#(unknown)"}"#)) { r in
                expectErrorShape(r, .notFound)
                #expect((object(r.body)["error"] as? String)?.contains(unknown) == true, "\(String(buffer: r.body))")
            }
            // A database backup id is not a file snapshot id, and the other way round: 400.
            for body in [#"{"type":"files","backupId":"20261201-030000F"}"#, #"{"type":"database","backupId":"\#(first)"}"#] {
                try await client.execute(uri: verify, method: .post, headers: bearer(operate), body: ByteBuffer(string: body)) {
                    expectErrorShape($0, .badRequest)
                }
            }
            #expect(f.verifyArguments == nil, "a refused request started a job: \(f.verifyArguments ?? "")")
        }
    }
}
