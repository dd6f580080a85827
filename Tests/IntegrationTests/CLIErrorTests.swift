import Foundation
import Testing
import TidemarkCore
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

/// The errors a DBA meets at 3 a.m., through the real binary: each is one clear line with a
/// hint, the documented exit code, nothing half-written, and never the key.
@Suite("CLI errors", .tags(.walArchive), .timeLimit(.minutes(5)))
struct CLIErrorTests {
    let user = try? SystemUser.serverUser()

    /// A repository fixture, initialized, and a runner for it.
    func setUp(_ scratch: ScratchDirectory) async throws -> (TidemarkRunner, RepositoryFixture, String) {
        let binary = try TidemarkBinary.install()
        let repo = try RepositoryFixture.create(in: scratch, owner: user)
        let runner = TidemarkRunner(binary: binary, environment: repo.environment, user: user, timeout: .seconds(60))
        let initResult = try await runner.run("init")
        #expect(initResult.exitCode == 0, "\(initResult)")
        let key = String(decoding: try FileManager.default.readFile(repo.keyFile), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return (runner, repo, key)
    }

    /// A 1 MiB WAL segment file with a valid header, readable by the runner's user.
    func segmentFile(in scratch: ScratchDirectory, name: String = "000000010000000000000003", random: Bool = false,
                     size: UInt64 = 1 << 20) throws -> String {
        let segName = try #require(WALSegmentName(name))
        var bytes = SyntheticWAL.segment(segName, size: try #require(WALSegmentSize(rawValue: size)))
        if random {
            var rng = SystemRandomNumberGenerator()
            for i in 4096..<bytes.count { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        }
        let path = scratch.child(name)
        try FileManager.default.writeFile(path, Data(bytes), mode: 0o644, owner: user)
        return path
    }

    func expectClean(_ result: ProcessResult, code: Int32, mentions: [String], key: String?,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.exitCode == code, "\(result)", sourceLocation: sourceLocation)
        for m in mentions {
            #expect(result.stderrText.contains(m), "stderr should mention '\(m)': \(result.stderrText)", sourceLocation: sourceLocation)
        }
        #expect(result.stderrText.contains("HINT:") || code == 9, "a fix is suggested: \(result.stderrText)", sourceLocation: sourceLocation)
        if let key, !key.isEmpty {
            #expect(!result.stderrText.contains(key) && !result.stdoutText.contains(key), "the key must never be printed", sourceLocation: sourceLocation)
        }
    }

    @Test func missingKeyAndMissingRepository() async throws {
        let scratch = try ScratchDirectory(prefix: "tm-cli-nokey", owner: user)
        let binary = try TidemarkBinary.install()
        let segment = try segmentFile(in: scratch)
        let noKey = TidemarkRunner(binary: binary, environment: ["BACKUP_DIR": scratch.child("repo")], user: user)
        expectClean(try await noKey.run("wal-push", segment), code: 3, mentions: ["no encryption key", "BACKUP_ENCRYPTION_KEY"], key: nil)
        expectClean(try await noKey.run("wal-fetch", "000000010000000000000003", scratch.child("out")), code: 126, mentions: ["no encryption key"], key: nil)

        let keyFile = scratch.child("key")
        try RepositoryFixture.writeKey(to: keyFile, owner: user)
        let noRepo = TidemarkRunner(binary: binary, environment: ["BACKUP_DIR": scratch.child("nothing-here"), "BACKUP_ENCRYPTION_KEY_FILE": keyFile], user: user)
        expectClean(try await noRepo.run("wal-push", segment), code: 5, mentions: ["does not exist or is not initialized", "tidemark init"], key: nil)
        // During recovery a missing repository (an unmounted disk) must stop recovery, not end it.
        expectClean(try await noRepo.run("wal-fetch", "000000010000000000000003", scratch.child("out")), code: 126, mentions: ["does not exist"], key: nil)
        #expect(!FileManager.default.fileExists(atPath: scratch.child("out")))
    }

    @Test func wrongKeyIsReportedAsSuchAndNeverPrinted() async throws {
        let scratch = try ScratchDirectory(prefix: "tm-cli-wrongkey", owner: user)
        let (runner, repo, _) = try await setUp(scratch)
        let segment = try segmentFile(in: scratch)
        #expect(try await runner.run("wal-push", segment).exitCode == 0)
        let wrongKey = "not-the-key-\(UUID().uuidString)"
        let wrong = runner.with(environment: ["BACKUP_ENCRYPTION_KEY": wrongKey])
        expectClean(try await wrong.run("wal-push", segment), code: 4, mentions: ["wrong key"], key: wrongKey)
        expectClean(try await wrong.run("wal-fetch", "000000010000000000000003", scratch.child("out")), code: 126, mentions: ["wrong key"], key: wrongKey)
        #expect(!FileManager.default.fileExists(atPath: scratch.child("out")))
        _ = repo
    }

    @Test func notAWALFile() async throws {
        let scratch = try ScratchDirectory(prefix: "tm-cli-notwal", owner: user)
        let (runner, _, key) = try await setUp(scratch)
        let conf = scratch.child("postgresql.conf")
        try FileManager.default.writeFile(conf, Data("port = 5432\n".utf8), mode: 0o644, owner: user)
        expectClean(try await runner.run("wal-push", conf), code: 9, mentions: ["is not a WAL file"], key: key)
        // The right name but the wrong content.
        let fake = scratch.child("000000010000000000000007")
        try FileManager.default.writeFile(fake, Data(repeating: 0x41, count: 1 << 20), mode: 0o644, owner: user)
        expectClean(try await runner.run("wal-push", fake), code: 9, mentions: ["not a valid WAL segment"], key: key)
        expectClean(try await runner.run("wal-push", scratch.child("000000010000000000000009")), code: 9, mentions: ["no such file"], key: key)
        // restore_command misuse must stop recovery: usage errors exit 126, not 64.
        let usage = try await runner.run("wal-fetch", "000000010000000000000003")
        #expect(usage.exitCode == 126, "\(usage)")
    }

    @Test func permissionDeniedOnTheRepository() async throws {
        let scratch = try ScratchDirectory(prefix: "tm-cli-perm", owner: user)
        let (runner, repo, key) = try await setUp(scratch)
        let segment = try segmentFile(in: scratch)
        // Root ignores permissions, so the runner is the server user when tests run as root.
        try FileManager.default.setMode(repo.directory, 0o500)
        defer { try? FileManager.default.setMode(repo.directory, 0o700) }
        expectClean(try await runner.run("wal-push", segment), code: 5, mentions: ["Permission denied", "writable"], key: key)
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: repo.directory).filter { $0.contains(".tmp") }
        #expect(leftovers.isEmpty)
    }

    @Test func aFullDiskLeavesNoTemporaryFile() async throws {
        try #require(SystemUser.isRoot, "mounting a small tmpfs to fill needs root (CI runs as root)")
        let scratch = try ScratchDirectory(prefix: "tm-cli-full", owner: user)
        let mountPoint = scratch.child("small")
        try FileManager.default.makeDirectory(mountPoint, mode: 0o755, owner: nil)
        let mount = try await ChildProcess.run(Command("/bin/mount", ["-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", mountPoint],
                                                       environment: [:], user: nil, currentDirectory: nil, timeout: .seconds(20)))
        try #require(mount.exitCode == 0, "mount tmpfs: \(mount)")
        defer {
            _ = try? ChildProcess.runBlocking(Command("/bin/umount", ["-l", mountPoint], environment: [:], user: nil,
                                                      currentDirectory: nil, timeout: .seconds(20)))
        }
        try FileManager.default.setOwner(mountPoint, user)
        let binary = try TidemarkBinary.install()
        let keyFile = scratch.child("key")
        try RepositoryFixture.writeKey(to: keyFile, owner: user)
        let runner = TidemarkRunner(binary: binary, environment: ["BACKUP_DIR": mountPoint + "/repo", "BACKUP_ENCRYPTION_KEY_FILE": keyFile], user: user)
        #expect(try await runner.run("init").exitCode == 0)
        // 4 MiB of random bytes do not compress and do not fit in 2 MiB.
        let segment = try segmentFile(in: scratch, random: true, size: 4 << 20)
        let key = String(decoding: try FileManager.default.readFile(keyFile), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        expectClean(try await runner.run("wal-push", segment), code: 7, mentions: ["No space left on device", "full"], key: key)
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: mountPoint).filter { $0.contains(".tmp") }
        #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
        let fetch = try await runner.run("wal-fetch", "000000010000000000000003", scratch.child("out"))
        #expect(fetch.exitCode == 1, "nothing visible was archived: \(fetch)")
    }

    @Test func aHungStoreBecomesAnErrorNotAHang() async throws {
        let scratch = try ScratchDirectory(prefix: "tm-cli-hang", owner: user)
        let (runner, repo, key) = try await setUp(scratch)
        let segment = try segmentFile(in: scratch)
        // Replace the repository config with a FIFO: opening it blocks like a dead NFS mount.
        let config = repo.directory + "/tidemark.repo"
        try FileManager.default.removeItem(atPath: config)
        #expect(mkfifo(config, 0o600) == 0)
        try FileManager.default.setOwner(config, user)
        let quick = runner.with(environment: ["TIDEMARK_IO_TIMEOUT": "1"])
        let push = try await quick.run("wal-push", segment)
        expectClean(push, code: 7, mentions: ["no answer within 1 s"], key: key)
        #expect(push.duration < .seconds(20), "took \(push.duration)")
        let fetch = try await quick.run("wal-fetch", "000000010000000000000003", scratch.child("out"))
        #expect(fetch.exitCode == 126, "\(fetch)")
        #expect(fetch.duration < .seconds(20))
    }
}
