import Foundation
import Testing
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

/// `tidemark key change` killed with SIGKILL at random moments: the repository config is
/// replaced in one atomic step, so after every kill exactly one of the two keys opens the
/// repository, judged by a real command (`tidemark info`: 0 opens, 4 wrong key).
@Suite("key change: SIGKILL", .tags(.walArchive), .timeLimit(.minutes(5)))
struct KeyChangeKillTests {
    static let requiredRuns = 30
    static let maximumRuns = 60

    @Test("SIGKILL at a random moment of key change: the old or the new key opens the repository, never neither")
    func killedKeyChange() async throws {
        let user = try? SystemUser.serverUser()
        let scratch = try ScratchDirectory(prefix: "tm-key-kill", owner: user)
        let repo = try RepositoryFixture.create(in: scratch, owner: user)
        let base = TidemarkRunner(binary: try TidemarkBinary.install(), environment: repo.environment, user: user, timeout: .seconds(60))
        try #require(try await base.run("init").exitCode == 0)
        var keyNumber = 0
        func freshKey() throws -> String {
            keyNumber += 1
            let path = scratch.child("key-\(keyNumber)")
            try RepositoryFixture.writeKey(to: path, owner: user)
            return path
        }
        func opens(_ key: String) async throws -> Bool {
            let info = try await base.with(environment: ["BACKUP_ENCRYPTION_KEY_FILE": key]).run("info")
            #expect(info.exitCode == 0 || info.exitCode == 4, "info ends with 0 (opens) or 4 (wrong key): \(info)")
            return info.exitCode == 0
        }

        // The command's duration, uninterrupted (the shortest of three), sets the window of the kills.
        var current = repo.keyFile
        var durations: [Duration] = []
        for _ in 0..<3 {
            let new = try freshKey()
            let run = try await base.with(environment: ["BACKUP_ENCRYPTION_KEY_FILE": current]).run("key", "change", "--new-key-file", new)
            try #require(run.exitCode == 0, "\(run)")
            durations.append(run.duration)
            current = new
        }
        var measured = durations.min() ?? .milliseconds(100)
        var random = SeededGenerator.fromEnvironment()
        print("key change SIGKILL: seed \(random.seed) (TIDEMARK_TEST_SEED replays it); an uninterrupted run takes \(measured)")

        // Delays uniform over [0, scale × the duration], scale starting at 1.2: early kills leave
        // the old config, late ones (or runs that finished) the new one. The machine is shared (the
        // other suites run meanwhile), so the window follows it: a run that finished before the
        // kill becomes the duration and shrinks the scale by 10 %, a killed run grows it by 5 %.
        // If one outcome has not occurred after the required runs, more follow, up to `maximumRuns`.
        var scale = 1.2
        var outcomes: [String: Int] = ["old": 0, "new": 0]
        var killedRunning = 0
        var killedAfterTheSwitch = 0
        var runs = 0
        while runs < Self.requiredRuns || (outcomes.values.contains(0) && runs < Self.maximumRuns) {
            runs += 1
            let new = try freshKey()
            let delay = measured * Double.random(in: 0...scale, using: &random)
            let child = try base.launch("key", "change", "--new-key-file", new, environment: ["BACKUP_ENCRYPTION_KEY_FILE": current])
            try await Task.sleep(for: delay)
            child.send(SIGKILL)
            let ended = try await child.wait()
            let killed = ended.signal == SIGKILL
            scale = min(max(killed ? scale * 1.05 : scale * 0.9, 0.3), 2)
            if !killed { measured = ended.duration }
            let oldOpens = try await opens(current)
            let newOpens = try await opens(new)
            #expect(oldOpens != newOpens, "run \(runs) (killed after \(delay)): old key opens: \(oldOpens), new key opens: \(newOpens); \(ended)")
            if killed { killedRunning += 1 }
            if killed && newOpens { killedAfterTheSwitch += 1 }
            if newOpens { current = new }
            outcomes[newOpens ? "new" : "old", default: 0] += 1
        }
        print("key change SIGKILL: \(runs) runs, \(killedRunning) killed while running (\(killedAfterTheSwitch) of them after the new config was in place); outcomes \(outcomes)")
        #expect(outcomes["old", default: 0] > 0 && outcomes["new", default: 0] > 0, "both outcomes must occur, or the kills missed the window: \(outcomes)")
        #expect(killedRunning >= Self.requiredRuns / 3, "the kills must hit running commands: \(killedRunning) of \(runs)")
        // Whatever the kills left, the key that opens it can change it again.
        let last = try await base.with(environment: ["BACKUP_ENCRYPTION_KEY_FILE": current]).run("key", "change", "--new-key-file", try freshKey())
        #expect(last.exitCode == 0, "\(last)")
    }
}
