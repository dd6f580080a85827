import Foundation
import Testing
import TidemarkTesting

/// `files backup` through the binary at its edges: no database to ask for WAL positions, and
/// configured paths that cannot be backed up (docs/files.md).
@Suite("Files backup: edges", .timeLimit(.minutes(3)))
struct FilesBackupEdgeTests {
        /// Without a database to ask, `files backup` still succeeds, says so once, and records no
        /// WAL positions.
        @Test("files backup without a reachable database: exit 0, one warning, no WAL positions")
        func noDatabase() async throws {
            let f = try await FilesFixture(prefix: "tm-it-files-nodb", environment: [
                "PGHOST": "/nonexistent-socket-dir", "PGPORT": "5999", "PGUSER": "postgres", "PGDATABASE": "postgres"])
            try f.write("a.txt", Data("a".utf8))
            let run = try await f.tidemark.run("files", "backup")
            try #require(run.exitCode == 0, "\(run)")
            let warnings = run.stderrText.split(separator: "\n").filter { $0.contains("WAL") }
            #expect(warnings.count == 1 && warnings[0].hasPrefix("WARNING: the snapshot records no WAL start and end positions"), "\(run.stderrText)")
            let snapshots = try await f.list()
            #expect(snapshots.count == 1 && snapshots[0].walStart == nil && snapshots[0].walEnd == nil, "\(snapshots)")
            #expect(try await f.restoredManifest(snapshots[0].id, name: "r") == (try await TreeManifest.of(f.uploads)))
        }

    /// A configured path that does not exist, is a file or a symlink: exit 3 naming it and the
    /// fix, nothing written (no snapshot, no pack); the next backup with the path fixed succeeds.
    @Test("files.paths missing, a file or a symlink: exit 3, the path and the fix named, nothing written")
    func configuredPathsThatCannotBeBackedUp() async throws {
        let f = try await FilesFixture(prefix: "tm-it-files-paths")
        try f.write("a.txt", Data("a".utf8))
        let file = f.scratch.child("srv/notes.txt")
        try FileManager.default.writeFile(file, Data("n".utf8), mode: 0o644, owner: f.user)
        let link = f.scratch.child("srv/current")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: f.uploads)
        let cases = [
            (f.scratch.child("srv/avatars"), "it does not exist", "HINT: mount or create it"),
            (file, "it is not a directory", "HINT: list the directory that holds it"),
            (link, "it is a symlink (to '\(f.uploads)'), not a directory", "HINT: list the directory it points to"),
        ]
        for (path, problem, hint) in cases {
            let run = try await f.tidemark.run("files", "backup", environment: ["TIDEMARK_FILES_PATHS": f.uploads + ":" + path])
            #expect(run.exitCode == 3, "\(path): \(run)")
            #expect(run.stderrText.hasPrefix("tidemark files backup: ERROR: unable to back up files.paths '\(path)': \(problem); nothing was backed up\n"),
                    "\(run.stderrText)")
            #expect(run.stderrText.contains(hint), "\(run.stderrText)")
        }
        #expect(try await f.list().isEmpty)
        let written = (try? FileManager.default.subpathsOfDirectory(atPath: f.repository.directory + "/main/files")) ?? []
        #expect(!written.contains { $0.hasPrefix("packs/") || $0.hasPrefix("snapshots/") }, "\(written)")
        let fixed = try await f.tidemark.run("files", "backup")
        try #require(fixed.exitCode == 0, "\(fixed)")
        #expect(try await f.list().count == 1)
    }
}
