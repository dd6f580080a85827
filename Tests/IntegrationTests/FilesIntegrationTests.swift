import Foundation
import Testing
import TidemarkTesting

/// `tidemark files` through the real binary on a real file-system repository (docs/files.md):
/// a full and an incremental snapshot of a generated tree, each restored alone byte for byte;
/// diff; a flipped bit in a pack and a wrong key refused.
@Suite("Files end to end", .tags(.walArchive), .timeLimit(.minutes(5)))
struct FilesIntegrationTests {
    let user = try? SystemUser.serverUser()

    /// Every regular file below `root` (relative path → bytes) and every symlink (→ target).
    static func contents(_ root: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: root) else { return out }
        while let rel = walker.nextObject() as? String {
            let path = root + "/" + rel
            let attributes = try fm.attributesOfItem(atPath: path)
            switch attributes[.type] as? FileAttributeType {
            case .typeSymbolicLink?: out[rel] = Data(("-> " + (try fm.destinationOfSymbolicLink(atPath: path))).utf8)
            case .typeRegular?: out[rel] = try Data(contentsOf: URL(fileURLWithPath: path))
            default: break
            }
        }
        return out
    }

    func write(_ path: String, _ bytes: Data) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.writeFile(path, bytes, mode: 0o644, owner: user)
    }

    @Test func fullAndIncrementalSnapshotsRestoreByteForByte() async throws {
        let scratch = try ScratchDirectory(prefix: "tm-it-files", owner: user)
        let uploads = scratch.child("srv/uploads")
        var rng = SystemRandomNumberGenerator()
        func random(_ n: Int) -> Data { Data((0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }) }
        try write(uploads + "/diary/2026/entry-1.txt", Data(String(repeating: "session note ", count: 5000).utf8))
        try write(uploads + "/avatars/a.jpg", Data([0xFF, 0xD8, 0xFF, 0xE0]) + random(3 << 20))
        try write(uploads + "/docs/big.bin", random(9 << 20))
        try write(uploads + "/empty", Data())
        try write(uploads + "/cache/skip.tmp", Data("excluded".utf8))
        try FileManager.default.createSymbolicLink(atPath: uploads + "/latest", withDestinationPath: "diary/2026/entry-1.txt")
        if let user { _ = chownTree(scratch.child("srv"), user) }

        let repository = try RepositoryFixture.create(in: scratch, owner: user)
        let config = scratch.child("tidemark.json")
        try FileManager.default.writeFile(config, Data(#"{"files": {"paths": ["\#(uploads)"], "exclude": ["*.tmp"]}}"#.utf8), mode: 0o600, owner: user)
        let tidemark = TidemarkRunner(binary: try TidemarkBinary.install(), environment: repository.environment.merging([
            "TIDEMARK_CONFIG": config, "TIDEMARK_ARCHIVER_AUTOSTART": "0"]) { $1 }, user: user, timeout: .seconds(120))
        let initialized = try await tidemark.run("init")
        try #require(initialized.exitCode == 0, "\(initialized)")

        let full = try await tidemark.run("files", "backup", "--type", "full", "--label", "first")
        try #require(full.exitCode == 0, "\(full)")
        var first = try Self.contents(uploads)
        first["cache/skip.tmp"] = nil
        // Change one file, add one, remove one.
        try write(uploads + "/diary/2026/entry-1.txt", Data(String(repeating: "session note, revised ", count: 5000).utf8))
        try write(uploads + "/diary/2026/entry-2.txt", Data("a new entry".utf8))
        try FileManager.default.removeItem(atPath: uploads + "/empty")
        if let user { _ = chownTree(scratch.child("srv"), user) }
        let incremental = try await tidemark.run("files", "backup")
        try #require(incremental.exitCode == 0, "\(incremental)")
        var second = try Self.contents(uploads)
        second["cache/skip.tmp"] = nil

        let listed = try await tidemark.run("files", "list", "--json")
        struct Listing: Decodable { struct S: Decodable { var id: String; var type: String; var label: String? }; var snapshots: [S] }
        let snapshots = try JSONDecoder().decode(Listing.self, from: listed.stdout).snapshots
        try #require(snapshots.count == 2, "\(listed)")
        #expect(snapshots.map(\.type) == ["full", "incremental"] && snapshots[0].label == "first")

        for (snapshot, expected) in [(snapshots[0].id, first), (snapshots[1].id, second)] {
            let to = scratch.child("restore-" + snapshot)
            let restored = try await tidemark.run("files", "restore", "--to", to, "--snapshot", snapshot)
            try #require(restored.exitCode == 0, "\(restored)")
            let got = try Self.contents(to + uploads)
            #expect(got.keys.sorted() == expected.keys.sorted(), "snapshot \(snapshot)")
            for (path, bytes) in expected { #expect(got[path] == bytes, "\(path) in snapshot \(snapshot)") }
        }
        let diff = try await tidemark.run("files", "diff", snapshots[0].id, snapshots[1].id)
        #expect(diff.exitCode == 0 && diff.stdoutText.contains("entry-2.txt") && diff.stdoutText.contains("empty"), "\(diff)")

        // A wrong key is refused and writes nothing.
        let wrongKey = scratch.child("wrong.key")
        try RepositoryFixture.writeKey(to: wrongKey, owner: user)
        let wrong = try await tidemark.run("files", "restore", "--to", scratch.child("wrong"), environment: ["BACKUP_ENCRYPTION_KEY_FILE": wrongKey])
        #expect(wrong.exitCode == 4, "\(wrong)")
        #expect(!FileManager.default.fileExists(atPath: scratch.child("wrong") + uploads + "/docs/big.bin"))

        // A flipped bit in every pack: restore fails naming a pack, exit 8.
        let packs = try FileManager.default.subpathsOfDirectory(atPath: repository.directory + "/main/files/packs")
            .filter { $0.contains("/") }.map { repository.directory + "/main/files/packs/" + $0 }
        try #require(!packs.isEmpty)
        for pack in packs {
            var bytes = try Data(contentsOf: URL(fileURLWithPath: pack))
            bytes[bytes.count / 2] ^= 0x10
            try bytes.write(to: URL(fileURLWithPath: pack))
        }
        let damaged = try await tidemark.run("files", "restore", "--to", scratch.child("damaged"))
        #expect(damaged.exitCode == 8, "\(damaged)")
        #expect(damaged.stderrText.contains("files/packs/"), "the damaged object is named: \(damaged.stderrText)")
    }

    func chownTree(_ root: String, _ user: SystemUser) -> Bool {
        let fm = FileManager.default
        var ok = (try? fm.setAttributes([.ownerAccountID: Int(user.uid), .groupOwnerAccountID: Int(user.gid)], ofItemAtPath: root)) != nil
        for rel in fm.enumerator(atPath: root)?.allObjects as? [String] ?? [] {
            ok = ok && (try? fm.setAttributes([.ownerAccountID: Int(user.uid), .groupOwnerAccountID: Int(user.gid)], ofItemAtPath: root + "/" + rel)) != nil
        }
        return ok
    }
}
