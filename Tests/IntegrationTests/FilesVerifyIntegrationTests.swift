import Foundation
import Testing
import TidemarkTesting

/// `tidemark verify --files-snapshot ID` through the binary (docs/verify.md): a good snapshot
/// is ok; a flipped bit in a pack it uses and a removed index page are problems (exit 12), each
/// naming the object; an unknown snapshot is exit 1.
@Suite("Files: verify one snapshot", .timeLimit(.minutes(3)))
struct FilesVerifyIntegrationTests {
    struct Report: Decodable {
        struct Problem: Decodable { var kind: String; var object: String; var message: String; var hint: String }
        struct Repository: Decodable { var name: String; var status: String; var trees: Int; var chunks: Int; var packs: Int; var problems: [Problem] }
        var snapshot: String
        var repositories: [Repository]
    }

    @Test func goodDamagedAndIncompleteSnapshots() async throws {
        let f = try await FilesFixture(prefix: "tm-it-files-verify")
        try f.write("docs/big.bin", try FilesFixture.random(3 << 20))
        for i in 0..<20 { try f.write("diary/\(i % 3)/\(i).txt", Data(String(repeating: "entry \(i) ", count: 100).utf8)) }
        let backup = try await f.tidemark.run("files", "backup")
        try #require(backup.exitCode == 0, "\(backup)")
        let id = try #require(try await f.list().first?.id)

        let good = try await f.tidemark.run("verify", "--files-snapshot", id, "--json")
        try #require(good.exitCode == 0, "\(good)")
        let report = try JSONDecoder().decode(Report.self, from: good.stdout)
        let r = try #require(report.repositories.first)
        // 6 directories (the path, docs, diary, diary/0…2), 21 files of at least one chunk each.
        #expect(report.snapshot == id && report.repositories.count == 1 && r.status == "ok" && r.problems.isEmpty, "\(good.stdoutText)")
        #expect(r.trees == 6 && r.chunks >= 6 + 21 && r.packs >= 1, "\(good.stdoutText)")
        let text = try await f.tidemark.run("verify", "--files-snapshot", id)
        #expect(text.exitCode == 0 && text.stdoutText.contains("file snapshot \(id): ok — 6 directory trees"), "\(text)")

        // A flipped bit in a pack: damaged, named, exit 12.
        let packRoot = f.repository.directory + "/main/files/packs/"
        let packs = try FileManager.default.subpathsOfDirectory(atPath: packRoot).filter { $0.contains("/") }.sorted()
        try #require(!packs.isEmpty)
        let damaged = packRoot + packs[0]
        let original = try Data(contentsOf: URL(fileURLWithPath: damaged))
        var flipped = original
        flipped[flipped.count / 2] ^= 0x04
        try flipped.write(to: URL(fileURLWithPath: damaged))
        let bad = try await f.tidemark.run("verify", "--files-snapshot", id, "--json")
        #expect(bad.exitCode == 12, "\(bad)")
        let badReport = try JSONDecoder().decode(Report.self, from: bad.stdout)
        let problems = badReport.repositories.first?.problems ?? []
        #expect(!problems.isEmpty && problems.allSatisfy { $0.kind == "damaged" }, "\(bad.stdoutText)")
        #expect(problems.contains { $0.object == "main/files/packs/" + packs[0] }, "the damaged pack is named: \(bad.stdoutText)")
        #expect(bad.stderrText.contains("problem(s) found in file snapshot \(id) in repository local"), "\(bad.stderrText)")
        try original.write(to: URL(fileURLWithPath: damaged))

        // An index page gone: every chunk it named is missing, exit 12.
        let indexRoot = f.repository.directory + "/main/files/index/"
        let pages = try FileManager.default.contentsOfDirectory(atPath: indexRoot)
        try #require(pages.count == 1, "\(pages)")
        let saved = try Data(contentsOf: URL(fileURLWithPath: indexRoot + pages[0]))
        try FileManager.default.removeItem(atPath: indexRoot + pages[0])
        let incomplete = try await f.tidemark.run("verify", "--files-snapshot", id)
        #expect(incomplete.exitCode == 12, "\(incomplete)")
        #expect(incomplete.stdoutText.contains("PROBLEM (missing) chunk ") && incomplete.stdoutText.contains("is in no index page"), "\(incomplete.stdoutText)")
        try FileManager.default.writeFile(indexRoot + pages[0], saved, mode: 0o600, owner: f.user)
        #expect(try await f.tidemark.run("verify", "--files-snapshot", id).exitCode == 0)

        let unknown = try await f.tidemark.run("verify", "--files-snapshot", String(repeating: "0", count: 32))
        #expect(unknown.exitCode == 1, "\(unknown)")
        let mixed = try await f.tidemark.run("verify", "--files-snapshot", id, "--wal")
        #expect(mixed.exitCode == 64, "\(mixed)")
    }
}
