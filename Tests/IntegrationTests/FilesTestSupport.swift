import Foundation
import Testing
import TidemarkTesting

/// What a directory tree holds, computed by `find` and `sha256sum` (independent of the code
/// under test): one line per entry, sorted — type, mode and relative path; for a regular file
/// its SHA-256, for a symlink its target. Two trees with equal manifests agree byte for byte.
enum TreeManifest {
    static func of(_ root: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String] {
        let script = """
            cd "$1" || exit 1
            find . -mindepth 1 -printf '%y %m %p -> %l\\n'
            find . -type f -print0 | xargs -0r sha256sum
            """
        let result = try await ChildProcess.run(Command("/bin/sh", ["-c", script, "manifest", root], timeout: .seconds(120)))
        try #require(result.succeeded, "manifest of \(root): \(result)", sourceLocation: sourceLocation)
        return result.stdoutText.split(separator: "\n").map(String.init).sorted()
    }

    /// The differences between two manifests, at most `limit` lines (for a failure message).
    static func difference(_ expected: [String], _ actual: [String], limit: Int = 12) -> String {
        let e = Set(expected), a = Set(actual)
        let missing = expected.filter { !a.contains($0) }.prefix(limit).map { "- " + $0 }
        let extra = actual.filter { !e.contains($0) }.prefix(limit).map { "+ " + $0 }
        return (missing + extra).joined(separator: "\n")
    }
}

/// A file-system repository initialised by `tidemark init`, a config file whose `files.paths`
/// is one directory of the scratch area (owned by the server user), and a runner.
struct FilesFixture {
    let user: SystemUser?
    let scratch: ScratchDirectory
    let repository: RepositoryFixture
    /// The backed-up directory (`files.paths[0]`).
    let uploads: String
    let config: String
    let tidemark: TidemarkRunner

    init(prefix: String, extraConfig: String = "", environment: [String: String] = [:], timeout: Duration = .seconds(300)) async throws {
        user = try SystemUser.serverUser()
        scratch = try ScratchDirectory(prefix: prefix, mode: 0o755, owner: user)
        try FileManager.default.makeDirectory(scratch.child("srv"), mode: 0o755, owner: user)
        uploads = scratch.child("srv/uploads")
        try FileManager.default.makeDirectory(uploads, mode: 0o755, owner: user)
        repository = try RepositoryFixture.create(in: scratch, owner: user)
        config = scratch.child("tidemark.json")
        try FileManager.default.writeFile(config, Data(#"{"files": {"paths": ["\#(uploads)"]}\#(extraConfig)}"#.utf8), mode: 0o600, owner: user)
        tidemark = TidemarkRunner(binary: try TidemarkBinary.install(), environment: repository.environment.merging([
            "TIDEMARK_CONFIG": config, "TIDEMARK_ARCHIVER_AUTOSTART": "0"]) { $1 }.merging(environment) { $1 }, user: user, timeout: timeout)
        let initialized = try await tidemark.run("init")
        try #require(initialized.exitCode == 0, "\(initialized)")
    }

    /// Writes `bytes` at `uploads/<relative>` (parents created), owned by the server user.
    func write(_ relative: String, _ bytes: Data) throws {
        let path = uploads + "/" + relative
        var parents: [String] = []
        var dir = (path as NSString).deletingLastPathComponent
        while dir.count > uploads.count, !FileManager.default.fileExists(atPath: dir) {
            parents.append(dir)
            dir = (dir as NSString).deletingLastPathComponent
        }
        for p in parents.reversed() { try FileManager.default.makeDirectory(p, mode: 0o755, owner: user) }
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.writeFile(path, bytes, mode: 0o644, owner: user)
    }

    /// `n` random bytes from /dev/urandom.
    static func random(_ n: Int) throws -> Data {
        guard let urandom = FileHandle(forReadingAtPath: "/dev/urandom") else { throw TestingError(.fileSystem, "no /dev/urandom") }
        defer { try? urandom.close() }
        return try urandom.read(upToCount: n) ?? Data()
    }

    /// `files list --json`: the snapshots, oldest first.
    func list(sourceLocation: SourceLocation = #_sourceLocation) async throws -> [FilesListJSON.Snapshot] {
        let listed = try await tidemark.run("files", "list", "--json")
        try #require(listed.exitCode == 0, "files list --json: \(listed)", sourceLocation: sourceLocation)
        return try JSONDecoder().decode(FilesListJSON.self, from: listed.stdout).snapshots
    }

    /// `files restore --to <scratch>/<name> --snapshot ID` (exit 0 required); the manifest of
    /// what it restored at the configured path.
    func restoredManifest(_ snapshot: String, name: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String] {
        let to = scratch.child(name)
        let restored = try await tidemark.run("files", "restore", "--to", to, "--snapshot", snapshot)
        try #require(restored.exitCode == 0, "files restore --snapshot \(snapshot): \(restored)", sourceLocation: sourceLocation)
        defer { try? FileManager.default.removeItem(atPath: to) }
        return try await TreeManifest.of(to + uploads, sourceLocation: sourceLocation)
    }
}

/// `files list --json` (docs/files-commands.md), decoded independently of the engine.
struct FilesListJSON: Decodable {
    struct Snapshot: Decodable {
        var id: String
        var time: String
        var type: String
        var label: String?
        var parent: String?
        var paths: [String]
        var databaseBackup: String?
        var walStart: String?
        var walEnd: String?
        var files: Int
        var bytes: UInt64
        var unreadable: Int
        var changing: Int
    }
    var snapshots: [Snapshot]
}
