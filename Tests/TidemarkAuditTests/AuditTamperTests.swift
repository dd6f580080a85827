import Foundation
import Testing
import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage
import TidemarkSystem
import TidemarkTesting
@testable import TidemarkAudit

/// What `audit verify` catches: each tampering names the entry it touched.
@Suite struct AuditTamperTests {
    /// A log of `count` entries recorded through a recorder with a mirror.
    func recorded(_ count: Int) async throws -> (MemoryStore, AuditLog, AuditMirror, Scratch) {
        let (store, repository) = try await memoryRepository()
        let log = AuditLog(repository: repository, stanza: "main")
        let scratch = try Scratch()
        let mirror = AuditMirror(path: scratch.path + "/state/audit/main.jsonl")
        let recorder = AuditRecorder(logs: [("repo1", log)], mirror: mirror)
        for i in 1...count {
            let warning = await recorder.record(event(i % 2 == 0 ? "backup" : "plan"))
            #expect(warning == nil)
        }
        return (store, log, mirror, scratch)
    }

    func verify(_ log: AuditLog, _ mirror: AuditMirror?) async throws -> AuditVerifyReport {
        try await AuditReading.verify(stanza: "main", logs: [("repo1", log)], mirror: mirror)
    }

    @Test func anUntouchedLogIsUnbrokenAndTheMirrorHoldsEveryEntry() async throws {
        let (_, log, mirror, scratch) = try await recorded(5)
        let report = try await verify(log, mirror)
        #expect(!report.broken)
        #expect(report.repositories.first?.entries == 5 && report.repositories.first?.mirrored == 5)
        #expect(report.repositories.first?.headSeq == 5)
        var st = stat()
        #expect(stat(mirror.path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(stat(FileIO_parent(mirror.path), &st) == 0 && st.st_mode & 0o777 == 0o700)
        #expect(mirror.lastHead(repository: "repo1")?.seq == 5)
    }

    @Test func anEntryRemovedInTheMiddleIsNamed() async throws {
        let (store, log, _, scratch) = try await recorded(5)
        try await store.delete(AuditLog.key("main", seq: 3))
        let found = try await problems(log)
        #expect(found.map(\.kind) == [.missing] && found.map(\.seq) == [3])
    }

    /// An insider with the key rewrites entry 2 (a failure made a success) and seals it again:
    /// it authenticates, but entry 3 records the old entry's SHA-256.
    @Test func anEntryAlteredAndResealedWithTheRealKeyIsNamed() async throws {
        let (store, log, mirror, scratch) = try await recorded(4)
        let key = AuditLog.key("main", seq: 2)
        guard case .entry(var entry, _) = try await log.read(2) else { Issue.record("entry 2 unreadable"); return }
        entry.actor.user = "mallory"
        let sealed = encodeEnvelope(entry.canonicalBytes(), key: log.repository.key, kind: .auditEntry, compression: .none).bytes
        _ = try await store.put(key, bytes: sealed, ifAbsent: false)
        let withoutMirror = try await problems(log)
        #expect(withoutMirror.map(\.kind) == [.altered] && withoutMirror.map(\.seq) == [2])
        let report = try await verify(log, mirror)
        #expect(report.broken)
        #expect(Set(report.repositories[0].problems.map(\.kind)) == [.altered, .differsFromMirror])
        #expect(report.repositories[0].problems.allSatisfy { $0.seq == 2 })
    }

    /// Removing the newest entries leaves a chain that links: only the mirror knows.
    @Test func theNewestEntryRemovedIsCaughtByTheMirror() async throws {
        let (store, log, mirror, scratch) = try await recorded(4)
        try await store.delete(AuditLog.key("main", seq: 4))
        #expect(try await problems(log).isEmpty)
        let report = try await verify(log, mirror)
        #expect(report.broken)
        #expect(report.repositories[0].problems.map(\.kind) == [.removed])
        #expect(report.repositories[0].problems.map(\.seq) == [4])
        #expect(report.repositories.first?.problems.first?.description.contains("entry 4") == true)
    }

    @Test func theNewestEntryAlteredIsCaughtByTheMirror() async throws {
        let (store, log, mirror, scratch) = try await recorded(3)
        guard case .entry(var entry, _) = try await log.read(3) else { Issue.record("entry 3 unreadable"); return }
        entry.outcome = "success"
        entry.action = "plan-nothing"
        let sealed = encodeEnvelope(entry.canonicalBytes(), key: log.repository.key, kind: .auditEntry, compression: .none).bytes
        _ = try await store.put(AuditLog.key("main", seq: 3), bytes: sealed, ifAbsent: false)
        let report = try await verify(log, mirror)
        #expect(report.repositories[0].problems.map(\.kind) == [.differsFromMirror])
        #expect(report.repositories[0].problems.map(\.seq) == [3])
    }

    @Test func aTruncatedEntryFailsAuthentication() async throws {
        let (store, log, mirror, scratch) = try await recorded(3)
        store.tamper(AuditLog.key("main", seq: 2)) { Array($0.dropLast(7)) }
        let report = try await verify(log, mirror)
        #expect(report.repositories[0].problems.map(\.kind) == [.unreadable])
        #expect(report.repositories[0].problems.map(\.seq) == [2])
        // The log goes on after a damaged entry.
        let recorder = AuditRecorder(logs: [("repo1", log)], mirror: mirror)
        #expect(await recorder.record(event("verify")) == nil)
        #expect(try await log.listSeqs() == [1, 2, 3, 4])
    }

    @Test func anEntryCopiedToAnotherSeqOrStanzaIsMisplaced() async throws {
        let (store, log, _, scratch) = try await recorded(3)
        let bytes = try #require(store.snapshot[AuditLog.key("main", seq: 1)])
        _ = try await store.put(AuditLog.key("main", seq: 3), bytes: bytes, ifAbsent: false)
        _ = try await store.put(AuditLog.key("other", seq: 1), bytes: bytes, ifAbsent: false)
        #expect(try await problems(log).map(\.kind) == [.misplaced])
        let other = AuditLog(repository: log.repository, stanza: "other")
        #expect(try await problems(other).map(\.kind) == [.misplaced])
    }

    @Test func anObjectOfAnotherKindIsRefused() async throws {
        let (store, log, _, scratch) = try await recorded(2)
        guard case .entry(let entry, _) = try await log.read(2) else { Issue.record("entry 2 unreadable"); return }
        let generic = encodeEnvelope(entry.canonicalBytes(), key: log.repository.key, kind: .generic, compression: .none).bytes
        _ = try await store.put(AuditLog.key("main", seq: 2), bytes: generic, ifAbsent: false)
        let found = try await problems(log)
        #expect(found.map(\.kind) == [.unreadable] && found.first?.message.contains("envelope kind") == true)
    }

    /// A failing repository costs one warning line, never an error.
    @Test func aFailedAppendIsOneWarningLine() async throws {
        let (store, log, mirror, scratch) = try await recorded(1)
        store.failWrites(with: StorageError(.io, key: "x", message: "disk on fire"))
        let recorder = AuditRecorder(logs: [("repo1", log)], mirror: mirror, unavailable: [("repo2", "wrong key")])
        let warning = try #require(await recorder.record(event("backup")))
        #expect(warning.hasPrefix("tidemark: WARNING: audit log not written (backup): "))
        #expect(warning.contains("repository 'repo1'") && warning.contains("repository 'repo2': wrong key"))
        #expect(!warning.contains("\n"))
    }
}

func FileIO_parent(_ path: String) -> String { String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]) }
