import Foundation
import Testing
import TidemarkCore
import TidemarkTesting

/// Logging through the built binary, as PostgreSQL and operators run it: the default adds
/// nothing to stderr; the flags and the variables reach both the fast path and ArgumentParser.
@Suite("CLI: logging through the binary", .timeLimit(.minutes(2)))
struct LoggingBinaryTests {
    let user = try? SystemUser.serverUser()

    /// The scratch directory (removed when the value goes: keep it), a runner and a file that is
    /// not WAL.
    func setUp(_ name: String) throws -> (ScratchDirectory, TidemarkRunner, String) {
        let scratch = try ScratchDirectory(prefix: "tm-cli-log-\(name)", owner: user)
        let repo = try RepositoryFixture.create(in: scratch, owner: user)
        let runner = TidemarkRunner(binary: try TidemarkBinary.install(), environment: repo.environment, user: user,
                                    timeout: .seconds(60))
        let notWAL = scratch.child("not-a-segment")
        try FileManager.default.writeFile(notWAL, Data("hello".utf8), mode: 0o644, owner: user)
        return (scratch, runner, notWAL)
    }

    /// wal-push's contract with the server log: at the default level its failure is the ERROR
    /// line and its HINT lines, nothing more.
    @Test func theDefaultAddsNothingToWALPushOutput() async throws {
        let (scratch, tidemark, notWAL) = try setUp("default")
        defer { withExtendedLifetime(scratch) {} }
        #expect(try await tidemark.run("init").exitCode == 0)
        for args in [["wal-push", notWAL], ["--stanza", "main", "wal-push", notWAL]] {
            let result = try await ChildProcess.run(tidemark.command(args))
            #expect(result.exitCode == 9, "\(result)")
            let lines = result.stderrText.split(separator: "\n")
            #expect(lines.first?.hasPrefix("tidemark wal-push: ERROR: ") == true, "\(result.stderrText)")
            #expect(lines.dropFirst().allSatisfy { $0.hasPrefix("HINT: ") }, "\(result.stderrText)")
        }
        // A segment archived quietly, and one not archived fetched quietly (exit 1).
        let name = try #require(WALSegmentName("000000010000000000000003"))
        let segment = scratch.child(name.description)
        try FileManager.default.writeFile(segment, Data(SyntheticWAL.segment(name, size: try #require(WALSegmentSize(rawValue: 1 << 20)))),
                                          mode: 0o644, owner: user)
        let pushed = try await tidemark.run("wal-push", segment)
        #expect(pushed.exitCode == 0 && pushed.stderrText.isEmpty, "\(pushed)")
        let fetch = try await tidemark.run("wal-fetch", "000000010000000000000009", scratch.child("RECOVERYXLOG"))
        #expect(fetch.exitCode == 1 && fetch.stderrText.isEmpty, "\(fetch)")
        let fetched = try await tidemark.run("wal-fetch", name.description, scratch.child("RECOVERYXLOG"))
        #expect(fetched.exitCode == 0 && fetched.stderrText.isEmpty, "\(fetched)")
    }

    @Test func theFlagAndTheVariableReachBothPaths() async throws {
        let (scratch, tidemark, notWAL) = try setUp("levels")
        defer { withExtendedLifetime(scratch) {} }
        #expect(try await tidemark.run("init").exitCode == 0)
        // The fast path, with the flag.
        let push = try await tidemark.run("--log-level", "debug", "wal-push", notWAL)
        #expect(push.exitCode == 9, "\(push)")
        let last = push.stderrText.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("DEBUG tidemark: command finished command=wal-push duration.ms="), "\(push.stderrText)")
        #expect(last.hasSuffix(" exit.status=9"), "\(push.stderrText)")
        // ArgumentParser's path (list), with the variables: one JSON object per line.
        let list = try await tidemark.run("list", environment: ["TIDEMARK_LOG_LEVEL": "debug", "TIDEMARK_LOG_FORMAT": "json"])
        #expect(list.exitCode == 0, "\(list)")
        let line = try #require(list.stderrText.split(separator: "\n").last, "\(list)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        #expect(object["level"] as? String == "debug")
        #expect(object["label"] as? String == "tidemark")
        #expect(object["message"] as? String == "command finished")
        #expect(object["time"] is String)
        #expect((object["metadata"] as? [String: Any])?["command"] as? String == "list")
        // The flag wins over the variable.
        let quiet = try await tidemark.run("list", "--log-level", "warning", environment: ["TIDEMARK_LOG_LEVEL": "debug"])
        #expect(quiet.exitCode == 0 && quiet.stderrText.isEmpty, "\(quiet)")
    }

    @Test func badValuesGetTheDocumentedStatuses() async throws {
        let (scratch, tidemark, notWAL) = try setUp("bad")
        let loud = ["TIDEMARK_LOG_LEVEL": "loud"]
        let push = try await tidemark.run("wal-push", notWAL, environment: loud)
        #expect(push.exitCode == 3, "\(push)")
        #expect(push.stderrText.contains("tidemark wal-push: ERROR: TIDEMARK_LOG_LEVEL 'loud' is not a log level"), "\(push)")
        #expect(push.stderrText.contains("PostgreSQL keeps the segment"), "\(push)")
        let destination = scratch.child("RECOVERYXLOG")
        let fetch = try await tidemark.run("wal-fetch", "000000010000000000000001", destination, environment: loud)
        #expect(fetch.exitCode == 126, "\(fetch)")
        #expect(try await tidemark.run("info", "--log-format", "xml").exitCode == 64)
        #expect(try await tidemark.run("wal-fetch", "--log-level=loud", "000000010000000000000001", destination).exitCode == 126)
        #expect(!FileManager.default.fileExists(atPath: destination))
    }
}
