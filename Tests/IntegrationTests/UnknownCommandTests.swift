import Foundation
import Testing
import TidemarkTesting

/// A mistyped command, through the real binary: it is named as unknown with the nearest
/// command, instead of ArgumentParser blaming the option that follows it (issue 10, item 6).
@Suite("CLI: a mistyped command", .timeLimit(.minutes(2)))
struct UnknownCommandTests {
    let user = try? SystemUser.serverUser()

    func runner(_ scratch: ScratchDirectory) throws -> TidemarkRunner {
        let repo = try RepositoryFixture.create(in: scratch, owner: user)
        return TidemarkRunner(binary: try TidemarkBinary.install(), environment: repo.environment, user: user, timeout: .seconds(30))
    }

    @Test func aMistypedCommandIsNamedWithTheNearestOne() async throws {
        let scratch = try ScratchDirectory(prefix: "tm-cli-restor", mode: 0o755, owner: user)
        let tidemark = try runner(scratch)
        let target = scratch.child("x")
        let result = try await tidemark.run("restor", "--to", target)
        #expect(result.exitCode == 64, "\(result)")
        #expect(result.stderrText.contains("unknown command 'restor'"), "\(result.stderrText)")
        #expect(result.stderrText.contains("did you mean 'restore'?"), "\(result.stderrText)")
        #expect(!result.stderrText.contains("--to"), "the option is not to blame: \(result.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: target), "nothing is written")
        // The same with a global option first (it is moved behind the command).
        let global = try await tidemark.run("--stanza", "main", "bakup")
        #expect(global.exitCode == 64, "\(global)")
        #expect(global.stderrText.contains("did you mean 'backup'?"), "\(global.stderrText)")
    }

    /// PostgreSQL ends recovery early on a restore_command status of 1–125, so a misspelt
    /// `wal-fetch` in restore_command must exit 126 and stop recovery.
    @Test func aMisspeltWALFetchStopsRecovery() async throws {
        let scratch = try ScratchDirectory(prefix: "tm-cli-walfecth", mode: 0o755, owner: user)
        let tidemark = try runner(scratch)
        let destination = scratch.child("RECOVERYXLOG")
        let result = try await tidemark.run("wal-fecth", "000000010000000000000003", destination)
        #expect(result.exitCode == 126, "\(result)")
        #expect(result.stderrText.contains("unknown command 'wal-fecth'"), "\(result.stderrText)")
        #expect(result.stderrText.contains("did you mean 'wal-fetch'?"), "\(result.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: destination))
        // A misspelt archive_command stays below 126: PostgreSQL retries it, the archiver lives.
        let push = try await tidemark.run("wal-psuh", scratch.child("000000010000000000000003"))
        #expect(push.exitCode == 64, "\(push)")
        #expect(push.stderrText.contains("did you mean 'wal-push'?"), "\(push.stderrText)")
    }
}
