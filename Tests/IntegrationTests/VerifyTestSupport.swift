import Foundation
import Testing
import TidemarkCore
import TidemarkTesting

/// `verify --json` as docs/verify-json.md describes it.
struct VerifyJSONView: Decodable {
    struct Problem: Decodable {
        var kind: String
        var object: String
        var message: String
        var hint: String
    }
    struct Gap: Decodable {
        var timeline: Int
        var from: String
        var to: String
        var segments: Int
        var breaks: [String]
        var window: [String?]
    }
    struct Window: Decodable {
        var timeline: Int
        var from: String
        var to: String
        var backup: String
    }
    struct Repository: Decodable {
        var name: String
        var status: String
        var scope: String
        var objectsListed: Int
        var objectsRead: Int
        var newObjects: Int
        var changedObjects: Int
        var sampledObjects: Int
        var knownObjects: Int
        var bytesRead: Int64
        var backupsChecked: Int
        var segmentsChecked: Int
        var ledger: String
        var problems: [Problem]
        var gaps: [Gap]
        var missingHistories: [Int]
        var windows: [Window]
        var repaired: [String]
    }
    var status: String
    var problems: Int
    var repositories: [Repository]

    var only: Repository? { repositories.count == 1 ? repositories[0] : nil }
}

extension BackupTestCluster {
    /// `tidemark verify <flags> --json`: exit code, decoded report, result.
    func verify(_ flags: [String] = [], runner: TidemarkRunner? = nil) async throws -> (Int32, VerifyJSONView?, ProcessResult) {
        let result = try await ChildProcess.run((runner ?? tidemark).command(["verify"] + flags + ["--json"]))
        let view = try? JSONDecoder().decode(VerifyJSONView.self, from: result.stdout)
        return (result.exitCode, view, result)
    }

    /// The repository path of WAL segment `name` (24 hex digits) of stanza `main`.
    func segmentPath(_ name: String, stanza: String = "main") -> String {
        repository.directory + "/\(stanza)/wal/" + name.prefix(16) + "/" + name
    }
}

/// The name of the 16 MiB segment on timeline `timeline` holding `lsn` ("X/Y").
func segmentName(holding lsn: String, timeline: UInt32 = 1) -> String {
    let parts = lsn.split(separator: "/")
    let value = (UInt64(parts[0], radix: 16) ?? 0) << 32 | (UInt64(parts.count > 1 ? parts[1] : "0", radix: 16) ?? 0)
    let segno = value / (16 << 20)
    return String(format: "%08X%08X%08X", timeline, UInt32(segno / 256), UInt32(segno % 256))
}

/// Moves a file aside and back: a damage scenario is undone exactly.
struct SetAside {
    let path: String
    let saved: String

    init(_ path: String, in scratch: ScratchDirectory) throws {
        self.path = path
        saved = scratch.child("aside-" + (path as NSString).lastPathComponent + "-\(UInt32.random(in: 0 ... .max))")
        try Self.copy(path, saved)
    }

    /// Puts the saved bytes back, with the file's owner and mode.
    func restore() throws {
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        try Self.copy(saved, path)
    }

    static func copy(_ from: String, _ to: String) throws {
        let cp = try ChildProcess.runBlocking(Command("/bin/cp", ["-a", from, to], timeout: .seconds(60)))
        try #require(cp.succeeded, "cp -a \(from) \(to): \(cp)")
    }
}
