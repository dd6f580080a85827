import Foundation
import Testing
@testable import Tidemark
import TidemarkCore
import TidemarkTesting
import TidemarkRepository
import TidemarkBackup

/// A typo'd `--stanza` (issue 10, the lock): every command that takes the stanza lock refuses a
/// stanza that exists in no repository before it writes anything, naming the stanzas there.
@Suite("Commands on a stanza that does not exist")
struct StanzaPresenceTests {
    static func typo(_ repo: ExpireTestRepository) throws -> Engine {
        let configuration = try ConfigurationLoader.load(configPath: nil, stanza: "typo", environment: [
            "BACKUP_ENCRYPTION_KEY": "expire test passphrase", "BACKUP_DIR": repo.root,
        ])
        return Engine(configuration)
    }

    static func expectRefusal(_ what: String, _ repo: ExpireTestRepository, _ body: () async throws -> Void) async throws {
        do {
            try await body()
            Issue.record("\(what) on stanza 'typo' did not refuse")
        } catch let e as TidemarkError {
            #expect(e.code == .configuration, "\(what): \(e)")
            #expect(e.message.contains("stanza 'typo' does not exist") && e.message.contains("main"), "\(what): \(e.message)")
            #expect(e.hints.contains { $0.contains("--stanza") }, "\(what): \(e.hints)")
        }
        #expect(!FileManager.default.fileExists(atPath: repo.root + "/typo"), "\(what) wrote into the repository: typo/ exists")
    }

    @Test func everyLockingCommandRefusesATypoBeforeWritingAnything() async throws {
        let repo = try await ExpireTestRepository()
        try await repo.archive(1...2)
        try await repo.backup("20261101-010000F", start: 1, stop: 1, end: Date(timeIntervalSince1970: 1_793_000_000))
        let engine = try Self.typo(repo)
        try await Self.expectRefusal("backup", repo) { _ = try await engine.backup(type: .full, label: nil) }
        try await Self.expectRefusal("expire", repo) { _ = try await engine.expire(ExpireOptions()) }
        try await Self.expectRefusal("expire --dry-run", repo) { _ = try await engine.expire(ExpireOptions(dryRun: true)) }
        try await Self.expectRefusal("delete", repo) { _ = try await engine.delete(backup: "20261101-010000F", dryRun: false, cascade: false) }
        try await Self.expectRefusal("pin", repo) { _ = try await engine.pin("20261101-010000F", reason: "audit") }
        try await Self.expectRefusal("unpin", repo) { _ = try await engine.pin("20261101-010000F", reason: nil, remove: true) }
        try await Self.expectRefusal("key change", repo) {
            try await engine.key(.change(new: Secret(Array("a new and strong passphrase for the test".utf8)), source: "test"), report: { _ in })
        }
        try await Self.expectRefusal("verify --repair", repo) { _ = try await engine.verify(VerifyCommandOptions(repair: true)) }
        try await Self.expectRefusal("verify (its ledger)", repo) { _ = try await engine.verify(VerifyCommandOptions()) }
        // The real stanza is untouched by all this and still works.
        #expect(try await repo.engine(now: Date()).pin("20261101-010000F", reason: "audit").count == 1)
    }

    @Test func aLockLeftByAnEarlierTypoIsNoStanza() async throws {
        let repo = try await ExpireTestRepository()
        try await repo.archive(1...1)
        try FileManager.default.createDirectory(atPath: repo.root + "/typo/lock", withIntermediateDirectories: true)
        let store = repo.repository.store
        #expect(try await Engine.holdsStanza("main", store))
        #expect(try await !Engine.holdsStanza("typo", store), "only a lock: what the old typo bug left")
        #expect(try await !Engine.holdsStanza("other", store))
    }
}
