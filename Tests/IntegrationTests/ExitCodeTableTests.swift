import Foundation
import Testing
import Tidemark
import TidemarkCore
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup

/// docs/exit-codes.md is the table the binary follows: every documented code is provoked here
/// from the executable (or, for the two that need a whole recovery, by the test named in
/// `elsewhere`), and a code in the table without a case fails the test. Needs no PostgreSQL.
@Suite("Exit code table", .tags(.walArchive), .timeLimit(.minutes(3)))
struct ExitCodeTableTests {
    let user = try? SystemUser.serverUser()

    /// Rows that need a backup and a recovery; the tests named prove them.
    static let elsewhere: [Int32: String] = [
        10: "PITRTests (plan / restore of an unreachable target exit 10)",
        11: "RehearsalTests (a failing check exits 11)",
        12: "VerifyIntegrationTests (each damage exits 12)",
    ]

    /// The codes of the table in docs/exit-codes.md.
    static func documentedCodes() throws -> [Int32] {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/exit-codes.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        return text.split(separator: "\n").compactMap { line -> Int32? in
            let cells = line.split(separator: "|", omittingEmptySubsequences: true)
            guard line.hasPrefix("|"), let first = cells.first else { return nil }
            return Int32(first.trimmingCharacters(in: .whitespaces))
        }
    }

    @Test func everyDocumentedCodeIsProvokedByTheExecutable() async throws {
        let documented = try Self.documentedCodes()
        #expect(documented == [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 64, 126], "the table changed: give each new row a case here")

        let scratch = try ScratchDirectory(prefix: "tm-exit-codes", owner: user)
        let binary = try TidemarkBinary.install()
        let repo = try RepositoryFixture.create(in: scratch, owner: user)
        let tidemark = TidemarkRunner(binary: binary, environment: repo.environment, user: user, timeout: .seconds(60))
        #expect(try await tidemark.run("init").exitCode == 0)
        let segment = try segmentFile(in: scratch, name: "000000010000000000000003")
        var provoked: [Int32: ProcessResult] = [:]
        func record(_ code: Int32, _ result: ProcessResult, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(result.exitCode == code, "row \(code): \(result)", sourceLocation: sourceLocation)
            if code != 0 && code != 1 {
                #expect(result.stderrText.contains("ERROR: ") || code == 64, "row \(code): one ERROR line: \(result.stderrText)",
                        sourceLocation: sourceLocation)
            }
            provoked[code] = result
        }

        record(0, try await tidemark.run("wal-push", segment))
        record(1, try await tidemark.run("wal-fetch", "000000010000000000000009", scratch.child("absent")))
        record(3, try await TidemarkRunner(binary: binary, environment: ["BACKUP_DIR": repo.directory], user: user).run("info"))
        let otherKey = scratch.child("other.key")
        try RepositoryFixture.writeKey(to: otherKey, owner: user)
        record(4, try await tidemark.run("info", environment: ["BACKUP_ENCRYPTION_KEY_FILE": otherKey]))
        let empty = scratch.child("empty")
        try FileManager.default.makeDirectory(empty, mode: 0o700, owner: user)
        record(5, try await tidemark.run("info", environment: ["BACKUP_DIR": empty]))
        let different = try segmentFile(in: scratch, name: "000000010000000000000003", subdirectory: "other", random: true)
        record(6, try await tidemark.run("wal-push", different))
        let notWAL = scratch.child("not-a-segment")
        try FileManager.default.writeFile(notWAL, Data("hello".utf8), mode: 0o644, owner: user)
        record(9, try await tidemark.run("wal-push", notWAL))
        record(64, try await tidemark.run("info", "--no-such-option"))
        record(126, try await tidemark.run("wal-fetch", "000000010000000000000003", scratch.child("x"),
                                           environment: ["BACKUP_ENCRYPTION_KEY_FILE": otherKey]))
        #expect(!FileManager.default.fileExists(atPath: scratch.child("x")))

        // 13: a lease held from another host (unexpired): backup is refused before it even
        // connects to a server, naming the holder.
        let lockDirectory = repo.directory + "/main/lock"
        try FileManager.default.makeDirectory(lockDirectory, mode: 0o700, owner: user)
        let now = Date()
        let holder = """
            {"format": "tidemark-lease", "version": 1, "holder": "0123456789abcdef0123456789abcdef", "host": "db9.example",
             "pid": 4242, "command": "backup", "bootID": "x", "pidNamespace": "pid:[1]",
             "acquiredAt": "2026-01-01T00:00:00Z", "acquiredAtMillis": \(Int64(now.timeIntervalSince1970 * 1000)),
             "expiresAt": "2099-01-01T00:00:00Z", "expiresAtMillis": \(Int64((now.timeIntervalSince1970 + 600) * 1000)), "released": false}
            """
        try FileManager.default.writeFile(lockDirectory + "/00000000000000000001", Data(holder.utf8), mode: 0o600, owner: user)
        let busy = try await tidemark.run("backup", environment: ["PGHOST": scratch.child("no-server"), "PGPORT": "1"])
        record(13, busy)
        #expect(busy.stderrText.contains("is busy: held by backup pid 4242 on db9.example since 2026-01-01T00:00:00Z, lease until 2099-01-01T00:00:00Z; retry later"),
                "\(busy.stderrText)")

        // 8: the repository config altered behind Tidemark's back fails its MAC.
        let configPath = repo.directory + "/tidemark.repo"
        let original = try Data(contentsOf: URL(fileURLWithPath: configPath))
        let altered = String(decoding: original, as: UTF8.self).replacingOccurrences(of: "\"created\" : \"", with: "\"created\" : \"1")
        #expect(altered != String(decoding: original, as: UTF8.self), "the config has no 'created' field to alter")
        try FileManager.default.writeFile(configPath, Data(altered.utf8), mode: 0o600, owner: user)
        record(8, try await tidemark.run("info"))
        try FileManager.default.writeFile(configPath, original, mode: 0o600, owner: user)

        // 7: a storage that stops answering (the config is a FIFO: open blocks, like a dead
        // mount). The deadline of N seconds fires within N..1.5N, not after 2N.
        let stalled = try stalledRepository(in: scratch)
        let deadline = 3.0
        let started = ContinuousClock.now
        let timedOut = try await tidemark.run("wal-push", segment, environment: ["BACKUP_DIR": stalled, "TIDEMARK_IO_TIMEOUT": "3"])
        let elapsed = ContinuousClock.now - started
        record(7, timedOut)
        #expect(elapsed >= .seconds(deadline) && elapsed <= .seconds(deadline * 1.5), "an I/O deadline of \(deadline) s fired after \(elapsed)")
        #expect(timedOut.stderrText.contains("no answer within 3 s"), "\(timedOut.stderrText)")

        // Hints fit the command: only wal-push's caller (PostgreSQL) retries by itself.
        for code: Int32 in [6, 7, 9] {
            #expect(provoked[code]?.stderrText.contains("PostgreSQL keeps the segment and runs archive_command again") == true,
                    "wal-push row \(code): \(provoked[code]?.stderrText ?? "")")
        }
        #expect(provoked[13]?.stderrText.contains("PostgreSQL") == false, "backup must not promise a retry: \(busy.stderrText)")

        for code in documented where provoked[code] == nil {
            #expect(Self.elsewhere[code] != nil, "documented exit code \(code) has no case")
        }
        for code in provoked.keys { #expect(documented.contains(code), "exit code \(code) is not in docs/exit-codes.md") }
    }

    /// `info` and `list` print what they could read, then fail for a required repository that
    /// does not answer, naming it, with its code (7).
    @Test func infoAndListFailForAnUnreadableRequiredRepository() async throws {
        let scratch = try ScratchDirectory(prefix: "tm-exit-required", owner: user)
        let binary = try TidemarkBinary.install()
        let repo = try RepositoryFixture.create(in: scratch, name: "local", owner: user)
        #expect(try await TidemarkRunner(binary: binary, environment: repo.environment, user: user).run("init").exitCode == 0)
        let stalled = try stalledRepository(in: scratch)
        let configFile = scratch.child("tidemark.json")
        let json = """
            {"repositories": [{"name": "local", "type": "posix", "path": "\(repo.directory)"},
                              {"name": "stalled", "type": "posix", "path": "\(stalled)", "required": true}],
             "encryptionKeyFile": "\(repo.keyFile)", "ioTimeoutSeconds": 1}
            """
        try FileManager.default.writeFile(configFile, Data(json.utf8), mode: 0o600, owner: user)
        let tidemark = TidemarkRunner(binary: binary, environment: ["TIDEMARK_CONFIG": configFile], user: user, timeout: .seconds(60))
        for command in ["info", "list"] {
            let result = try await tidemark.run(command, "--json")
            #expect(result.exitCode == 7, "\(command) with a required repository not answering: \(result)")
            #expect(result.stdoutText.contains("\"local\""), "\(command) still prints what it could read: \(result.stdoutText)")
            #expect(result.stderrText.contains("required repository 'stalled' is unavailable"), "\(command): \(result.stderrText)")
        }
    }

    /// A repository directory whose config is a FIFO nobody writes: reading it blocks.
    func stalledRepository(in scratch: ScratchDirectory) throws -> String {
        let directory = scratch.child("stalled-\(UUID().uuidString.prefix(8))")
        try FileManager.default.makeDirectory(directory, mode: 0o700, owner: user)
        let fifo = directory + "/tidemark.repo"
        try #require(mkfifo(fifo, 0o600) == 0)
        if let user { try #require(chown(fifo, user.uid, user.gid) == 0) }
        return directory
    }

    func segmentFile(in scratch: ScratchDirectory, name: String, subdirectory: String? = nil, random: Bool = false) throws -> String {
        let segName = try #require(WALSegmentName(name))
        var bytes = SyntheticWAL.segment(segName, size: try #require(WALSegmentSize(rawValue: 1 << 20)))
        if random {
            var rng = SystemRandomNumberGenerator()
            for i in 4096..<bytes.count { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        }
        var directory = scratch.path
        if let subdirectory {
            directory = scratch.child(subdirectory)
            try FileManager.default.makeDirectory(directory, mode: 0o755, owner: user)
        }
        let path = directory + "/" + name
        try FileManager.default.writeFile(path, Data(bytes), mode: 0o644, owner: user)
        return path
    }
}
