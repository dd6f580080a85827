import Foundation
import Testing
import TidemarkTesting

/// `tidemark init --repo NAME`: a repository added to the configuration after the others were
/// initialized can be initialized alone; the others are not touched.
@Suite("init --repo", .tags(.walArchive), .timeLimit(.minutes(3)))
struct InitRepositoryTests {
    @Test func aRepositoryAddedLaterIsInitializedAlone() async throws {
        let user = try? SystemUser.serverUser()
        let scratch = try ScratchDirectory(prefix: "tm-init-repo", owner: user)
        let binary = try TidemarkBinary.install()
        let key = scratch.child("key")
        try RepositoryFixture.writeKey(to: key, owner: user)
        func config(_ names: [String]) throws -> String {
            let repositories = names.map { "{\"name\": \"\($0)\", \"type\": \"posix\", \"path\": \"\(scratch.child($0))\"}" }
            let path = scratch.child("tidemark-\(names.count).json")
            let text = "{\"encryptionKeyFile\": \"\(key)\", \"repositories\": [\(repositories.joined(separator: ", "))]}"
            try FileManager.default.writeFile(path, Data(text.utf8), mode: 0o600, owner: user)
            return path
        }
        let runner = TidemarkRunner(binary: binary, environment: [:], user: user, timeout: .seconds(60))
        let one = try config(["first"])
        let initial = try await runner.run("--config", one, "init")
        try #require(initial.exitCode == 0, "\(initial)")
        let configObject = scratch.child("first/tidemark.repo")
        let before = try Data(contentsOf: URL(fileURLWithPath: configObject))

        let two = try config(["first", "second"])
        let plain = try await runner.run("--config", two, "init")
        #expect(plain.exitCode == 5 && plain.stderrText.contains("init --repo NAME"), "\(plain)")
        let added = try await runner.run("--config", two, "init", "--repo", "second")
        #expect(added.exitCode == 0 && added.stdoutText.contains("'second'") && !added.stdoutText.contains("'first'"), "\(added)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: configObject)) == before, "the first repository was rewritten")
        let info = try await runner.run("--config", two, "info")
        #expect(info.exitCode == 0 && info.stdoutText.contains("repository second"), "\(info)")
        let again = try await runner.run("--config", two, "init", "--repo", "second")
        #expect(again.exitCode == 5, "\(again)")
        let unknown = try await runner.run("--config", two, "init", "--repo", "third")
        #expect(unknown.exitCode == 3 && unknown.stderrText.contains("first, second"), "\(unknown)")
    }
}
