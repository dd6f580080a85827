import Foundation
import Testing
@testable import Tidemark
import TidemarkCore
import TidemarkTesting
import TidemarkRepository

/// Issue 10, item 11: delete, pin, unpin and verify --repair take the stanza lock; while another
/// command holds it they are refused with busy (exit 13) naming the holder, and change nothing.
@Suite("Commands that take the stanza lock are busy while it is held")
struct LockedCommandsTests {
    static func expectBusy(_ what: String, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("\(what) ran while the lock was held")
        } catch let e as TidemarkError {
            #expect(e.code == .busy && e.message.contains("held by expire"), "\(what): \(e)")
        } catch {
            Issue.record("\(what): \(error)")
        }
    }

    @Test func deletePinUnpinAndRepairAreBusy() async throws {
        let repo = try await ExpireTestRepository()
        try await repo.archive(1...4)
        try await repo.backup("20261101-010000F", start: 1, stop: 1, end: Date(timeIntervalSince1970: 1_793_000_000))
        // A gap in the WAL: verify finds a problem, so --repair would write.
        let segment = WALSegmentName(timeline: TimelineID(1), log: 0, seg: 3)
        try FileManager.default.removeItem(atPath: repo.root + "/" + RepositoryLayout.wal("main", .segment(segment)))
        let held = try await RepositoryLock(store: repo.repository.store, stanza: "main", duration: 600).acquire(command: "expire")
        let before = try repo.objects().filter { !$0.key.hasSuffix("verify.ledger") }
        let engine = repo.engine(now: Date())
        await Self.expectBusy("delete") { _ = try await engine.delete(backup: "20261101-010000F", dryRun: false, cascade: false) }
        await Self.expectBusy("pin") { _ = try await engine.pin("20261101-010000F", reason: "audit") }
        await Self.expectBusy("unpin") { _ = try await engine.pin("20261101-010000F", reason: nil, remove: true) }
        await Self.expectBusy("verify --repair") { _ = try await engine.verify(VerifyCommandOptions(repair: true)) }
        let after = try repo.objects().filter { !$0.key.hasSuffix("verify.ledger") }
        #expect(after == before, "a refused command changed the repository")
        await held.release()
        #expect(try await engine.pin("20261101-010000F", reason: "audit").count == 1, "once released, pin runs")
    }
}
