import Foundation
import Testing
import TidemarkTesting
@testable import TidemarkAudit

#if canImport(Glibc)
import Glibc
#endif

/// The built binary records what real commands did, `tidemark audit` shows it, and
/// `tidemark audit verify` proves it (or names what was tampered with). No PostgreSQL needed:
/// the commands run against an initialized, empty repository.
@Suite("audit commands", .timeLimit(.minutes(5)))
struct AuditCommandTests {
    let user = try? SystemUser.serverUser()

    @Test func commandsAreRecordedListedAndVerified() async throws {
        let scratch = try ScratchDirectory(prefix: "tm-audit", owner: user)
        let repo = try RepositoryFixture.create(in: scratch, owner: user)
        let state = scratch.child("state")
        try FileManager.default.makeDirectory(state, mode: 0o700, owner: user)
        let tidemark = TidemarkRunner(binary: try TidemarkBinary.install(),
                                      environment: repo.environment.merging(["XDG_STATE_HOME": state]) { $1 },
                                      user: user, timeout: .seconds(60))
        try #require(try await tidemark.run("init").exitCode == 0)

        // Real commands, some failing: each is recorded once, with its exit status.
        let commands: [(action: String, args: [String])] = [
            ("pin", ["pin", "20990101-000000F", "--reason", "legal hold"]),
            ("plan", ["plan", "--target-time", "2026-12-01 00:00:00+00"]),
            ("expire", ["expire", "--dry-run"]),
            ("key-add", ["key", "add", "--name", "recovery", "--key-file", scratch.child("recovery.key")]),
            ("verify", ["verify"]),
            // Refused before it makes its engine (the target is not absolute): still recorded.
            ("restore", ["restore", "--to", "relative/dir"]),
        ]
        try RepositoryFixture.writeKey(to: scratch.child("recovery.key"), owner: user)
        var statuses: [Int32] = []
        for c in commands {
            let result = try await ChildProcess.run(tidemark.command(c.args))
            #expect(!result.stderrText.contains("audit log not written"), "\(c.args): \(result)")
            statuses.append(result.exitCode)
        }
        #expect(statuses[0] != 0 && statuses[3] == 0, "pinning a backup that does not exist fails; key add works: \(statuses)")

        let listed = try await tidemark.run("audit", "--json")
        try #require(listed.exitCode == 0, "\(listed)")
        let entries = try listed.stdoutText.split(separator: "\n").map { try JSONDecoder().decode(AuditEntry.self, from: Data($0.utf8)) }
        try #require(entries.map(\.seq) == Array(1...UInt64(commands.count)), "one entry per command: \(listed.stdoutText)")
        #expect(entries.map(\.action) == commands.map(\.action))
        #expect(entries.map(\.exitCode) == statuses.map { Optional($0) })
        #expect(entries.map(\.outcome) == statuses.map { $0 == 0 ? "success" : "failure" })
        let expectedUser = user?.name ?? String(cString: getpwuid(geteuid()).pointee.pw_name)
        #expect(entries.allSatisfy { $0.actor.user == expectedUser && $0.target["stanza"] == "main" && !$0.source.host.isEmpty })
        #expect(entries[0].target["backup"] == "20990101-000000F" && entries[0].detail["reason"] == "legal hold")
        #expect(entries[0].error?.isEmpty == false, "a failure carries its error message")
        #expect(entries[1].target["targetTime"] == "2026-12-01 00:00:00+00")
        #expect(entries[3].target["slot"] == "recovery", "key add is recorded although it changes the key slots")
        // Nothing secret: the key file's content is in no entry.
        let key = String(decoding: try FileManager.default.readFile(repo.keyFile), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!listed.stdoutText.contains(key))

        let text = try await tidemark.run("--stanza", "main", "audit", "--since", "1h")
        #expect(text.exitCode == 0 && text.stdoutText.split(separator: "\n").count == commands.count, "\(text)")
        #expect(text.stdoutText.contains("1 ") && text.stdoutText.contains(" pin failure \(expectedUser)@"), "\(text)")
        let future = try await tidemark.run("audit", "--since", "2099-01-01 00:00:00+00")
        #expect(future.exitCode == 0 && future.stdoutText.isEmpty, "\(future)")

        // The mirror holds what was appended, 0600 in a 0700 directory.
        let mirror = state + "/tidemark/audit/main.jsonl"
        var st = stat()
        #expect(stat(mirror, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(stat(state + "/tidemark/audit", &st) == 0 && st.st_mode & 0o777 == 0o700)

        let unbroken = try await tidemark.run("audit", "verify")
        #expect(unbroken.exitCode == 0 && unbroken.stdoutText.contains("unbroken"), "\(unbroken)")

        // `verify` reads the audit entries as objects of their own kind: it still passes (or
        // fails) as before, and never calls them foreign.
        let again = try await tidemark.run("verify", "--json")
        #expect(again.exitCode == statuses[4], "\(again)")
        #expect(!again.stdoutText.contains("/audit/"), "no problem names an audit entry: \(again.stdoutText)")

        // Tampering: the newest entry removed (only the mirror knows), the second replaced
        // with a copy of the first.
        let dir = repo.directory + "/main/audit/"
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }.sorted()
        let newest = try #require(names.last)
        let newestSeq = try #require(UInt64(newest))
        try FileManager.default.removeItem(atPath: dir + newest)
        let removed = try await tidemark.run("audit", "verify")
        #expect(removed.exitCode == 12, "\(removed)")
        #expect(removed.stdoutText.contains("entry \(newestSeq): it is in the local mirror"), "\(removed)")

        try FileManager.default.removeItem(atPath: dir + names[1])
        try FileManager.default.copyItem(atPath: dir + names[0], toPath: dir + names[1])
        try FileManager.default.setOwner(dir + names[1], user)
        let json = try await tidemark.run("audit", "verify", "--json")
        #expect(json.exitCode == 12, "\(json)")
        let report = try JSONDecoder().decode(AuditVerifyReport.self, from: json.stdout)
        let problems = report.repositories.flatMap(\.problems)
        #expect(problems.contains { $0.seq == 2 && $0.kind == .misplaced }, "\(problems)")
        #expect(problems.contains { $0.seq == newestSeq && $0.kind == .removed }, "\(problems)")
        #expect(report.status == "broken")
    }

    /// wal-fetch is recorded once per recovery session, by the prefetcher it starts, never per
    /// segment; wal-push not at all.
    @Test func aWALFetchSessionIsRecordedOnceAndFetchesAreNot() async throws {
        let scratch = try ScratchDirectory(prefix: "tm-audit-fetch", owner: user)
        let repo = try RepositoryFixture.create(in: scratch, owner: user)
        let state = scratch.child("state")
        try FileManager.default.makeDirectory(state, mode: 0o700, owner: user)
        let tidemark = TidemarkRunner(binary: try TidemarkBinary.install(),
                                      environment: repo.environment.merging(["XDG_STATE_HOME": state]) { $1 },
                                      user: user, timeout: .seconds(60))
        try #require(try await tidemark.run("init").exitCode == 0)
        for _ in 0..<3 {
            let fetched = try await tidemark.run("wal-fetch", "000000010000000000000001", scratch.child("out"))
            #expect(fetched.exitCode != 0, "nothing to fetch: \(fetched)")
        }
        // The prefetcher as wal-fetch starts it (it exits after 10 s without a request).
        let spool = scratch.child("spool")
        let prefetch = try await tidemark.run("wal-prefetch", "--spool", spool)
        #expect(prefetch.exitCode == 0 && !prefetch.stderrText.contains("audit log not written"), "\(prefetch)")
        let listed = try await tidemark.run("audit", "--json")
        let entries = try listed.stdoutText.split(separator: "\n").map { try JSONDecoder().decode(AuditEntry.self, from: Data($0.utf8)) }
        #expect(entries.map(\.action) == ["wal-fetch-session"], "\(listed)")
        #expect(entries.first?.detail["spool"] == spool && entries.first?.outcome == "success")
    }

    /// Processes appending at once (four `plan`s at a time, the mirror shared): one chain,
    /// every command in it once.
    @Test func concurrentProcessesMakeOneChain() async throws {
        let scratch = try ScratchDirectory(prefix: "tm-audit-procs", owner: user)
        let repo = try RepositoryFixture.create(in: scratch, owner: user)
        let state = scratch.child("state")
        try FileManager.default.makeDirectory(state, mode: 0o700, owner: user)
        let tidemark = TidemarkRunner(binary: try TidemarkBinary.install(),
                                      environment: repo.environment.merging(["XDG_STATE_HOME": state]) { $1 },
                                      user: user, timeout: .seconds(60))
        try #require(try await tidemark.run("init").exitCode == 0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for i in 0..<5 {
                        let r = try await ChildProcess.run(tidemark.command(["plan", "--backup", "20260101-00000\(worker)F", "--target-name", "w\(worker)-\(i)"]))
                        #expect(!r.stderrText.contains("audit log not written"), "\(r)")
                    }
                }
            }
            try await group.waitForAll()
        }
        let listed = try await tidemark.run("audit", "--json")
        let entries = try listed.stdoutText.split(separator: "\n").map { try JSONDecoder().decode(AuditEntry.self, from: Data($0.utf8)) }
        #expect(entries.map(\.seq) == Array(1...20))
        #expect(Set(entries.compactMap { $0.target["targetName"] }).count == 20)
        let verified = try await tidemark.run("audit", "verify", "--json")
        #expect(verified.exitCode == 0, "\(verified)")
        let report = try JSONDecoder().decode(AuditVerifyReport.self, from: verified.stdout)
        #expect(report.repositories.first?.mirrored == 20)
    }
}
