import Foundation
import Testing
import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkAudit

let fastKDF = ScryptParameters(logN: 10)

func event(_ action: String, stanza: String = "main", success: Bool = true) -> AuditEvent {
    AuditEvent(action: action, actor: AuditActor(user: "alice", uid: 1000, sudoUser: "bob"),
               source: AuditSource(host: "db1", pid: 42, tty: "/dev/pts/0"),
               target: ["stanza": stanza, "backup": "20261202-010000F"], detail: ["type": "full"],
               success: success, exitCode: success ? 0 : 7, error: success ? nil : "unable to \"x\"\n")
}

func memoryRepository() async throws -> (MemoryStore, Repository) {
    let store = MemoryStore()
    return (store, try await Repository.initialize(store: store, passphrase: testPassphrase, parameters: fastKDF))
}

func problems(_ log: AuditLog, mirror: [AuditEntry] = []) async throws -> [AuditProblem] {
    let (reads, foreign) = try await log.readAll()
    return AuditChain.check(stanza: log.stanza, reads: reads, foreign: foreign, mirror: mirror)
}

@Suite struct AuditEntryTests {
    @Test func canonicalBytesAreSortedCompactAndEscaped() throws {
        let entry = AuditEntry(seq: 3, time: "2026-12-02T16:46:37.123Z", event: event("backup", success: false), prev: AuditEntry.genesis)
        let text = String(decoding: entry.canonicalBytes(), as: UTF8.self)
        #expect(text.hasPrefix(#"{"action":"backup","actor":{"sudoUser":"bob","uid":1000,"user":"alice"},"detail":{"type":"full"},"error":"unable to \"x\"\n","exitCode":7,"#))
        #expect(text.hasSuffix(#""source":{"host":"db1","pid":42,"tty":"/dev/pts/0"},"target":{"backup":"20261202-010000F","stanza":"main"},"time":"2026-12-02T16:46:37.123Z"}"#))
        #expect(!text.contains(" :") && !text.contains(", "))
        // What is stored decodes to the same entry, which re-encodes to the same bytes.
        let decoded = try JSONDecoder().decode(AuditEntry.self, from: Data(entry.canonicalBytes()))
        #expect(decoded == entry)
        #expect(decoded.canonicalBytes() == entry.canonicalBytes())
        #expect(entry.sha256.count == 64)
    }

    @Test func controlCharactersAreEscaped() {
        var out: [UInt8] = []
        CanonicalJSON.writeString("a\u{01}\\é", into: &out)
        #expect(String(decoding: out, as: UTF8.self) == "\"a\\u0001\\\\é\"")
    }

    @Test func timesAreUTCMilliseconds() throws {
        #expect(AuditTime.format(Date(timeIntervalSince1970: 1_796_230_000.0456)) == "2026-12-02T16:46:40.045Z")
        #expect(AuditTime.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        let now = Date(timeIntervalSince1970: 1_796_230_000)
        #expect(try AuditTime.since("24h", now: now) == AuditTime.format(now.addingTimeInterval(-86_400)))
        #expect(try AuditTime.since("2026-12-01 00:00:00+00", now: now) == "2026-12-01T00:00:00.000Z")
        #expect(throws: TidemarkError.self) { try AuditTime.since("yesterday", now: now) }
    }
}

@Suite struct AuditLogTests {
    @Test func appendsLinkEachEntryToThePreviousOne() async throws {
        let (store, repository) = try await memoryRepository()
        let log = AuditLog(repository: repository, stanza: "main")
        let first = try await log.append(event("plan"), time: "t1")
        let second = try await log.append(event("backup"), time: "t2")
        let third = try await log.append(event("verify"), time: "t3", hint: AuditLog.Head(seq: 2, sha256: second.sha256))
        #expect([first.seq, second.seq, third.seq] == [1, 2, 3])
        #expect(first.prev == AuditEntry.genesis)
        #expect(second.prev == first.sha256 && third.prev == second.sha256)
        #expect(store.snapshot.keys.filter { $0.hasPrefix("main/audit/") }.sorted()
            == ["main/audit/0000000000000001", "main/audit/0000000000000002", "main/audit/0000000000000003"])
        let head = try #require(try EnvelopeHeader(parsing: Array(store.snapshot["main/audit/0000000000000001"]!.prefix(80))))
        #expect(head.kind == .auditEntry)
        #expect(try await problems(log).isEmpty)
    }

    @Test func aStaleHintStillAppendsAtTheEnd() async throws {
        let (_, repository) = try await memoryRepository()
        let log = AuditLog(repository: repository, stanza: "main")
        for i in 0..<6 { _ = try await log.append(event("plan"), time: "t\(i)") }
        let stale = AuditLog.Head(seq: 1, sha256: "whatever")
        let entry = try await log.append(event("plan"), time: "t7", hint: stale)
        #expect(entry.seq == 7)
        // A hint past the end (the newest entries removed) is not trusted either.
        let beyond = try await log.append(event("plan"), time: "t8", hint: AuditLog.Head(seq: 50, sha256: "x"))
        #expect(beyond.seq == 8)
        #expect(try await problems(log).isEmpty)
    }

    /// Several processes appending at once (each its own `AuditLog`, no shared state, a real
    /// file system with its atomic create) make one unbroken chain.
    @Test func concurrentAppendersMakeOneChain() async throws {
        let scratch = try Scratch()
        try FileManager.default.createDirectory(atPath: scratch.path + "/repo", withIntermediateDirectories: false)
        let store = FileSystemStore(root: scratch.path + "/repo")
        let repository = try await Repository.initialize(store: store, passphrase: testPassphrase, parameters: fastKDF)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<4 {
                group.addTask {
                    let log = AuditLog(repository: repository, stanza: "main")
                    var hint: AuditLog.Head?
                    for i in 0..<25 {
                        let e = try await log.append(event("job-\(task)"), time: "t\(i)", hint: hint)
                        hint = AuditLog.Head(seq: e.seq, sha256: e.sha256)
                    }
                }
            }
            try await group.waitForAll()
        }
        let log = AuditLog(repository: repository, stanza: "main")
        let (reads, _) = try await log.readAll()
        #expect(reads.map(\.seq) == Array(1...100))
        var counts: [String: Int] = [:]
        for (_, read) in reads { if case .entry(let e, _) = read { counts[e.action, default: 0] += 1 } }
        #expect(counts == ["job-0": 25, "job-1": 25, "job-2": 25, "job-3": 25])
        #expect(try await problems(log).isEmpty)
    }
}
