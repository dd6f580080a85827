import Foundation
import Testing
import TidemarkTesting

/// `tidemark info --json`, decoded independently of the engine's own types: the JSON field
/// names are the interface under test.
struct InfoJSON: Decodable {
    struct Stanza: Decodable {
        var name: String
        var systemIdentifier: String?
        var walSegmentSize: Int?
        var wal: WAL
    }

    struct WAL: Decodable {
        var segments: Int
        var timelines: [Timeline]
        var partialFiles: Int
        var storedBytes: Int
    }

    struct Timeline: Decodable {
        var timeline: Int
        var first: String
        var last: String
        var segments: Int
        var gaps: [String]
    }

    var stanzas: [Stanza]

    /// Runs `tidemark info --json` and decodes it; a non-zero exit or bad JSON is a failure.
    static func read(with tidemark: TidemarkRunner) async throws -> InfoJSON {
        let result = try await tidemark.run("info", "--json")
        try #require(result.exitCode == 0, "tidemark info --json failed: \(result)")
        do {
            return try JSONDecoder().decode(InfoJSON.self, from: result.stdout)
        } catch {
            Issue.record("tidemark info --json printed JSON that does not match the documented shape: \(error)\n\(result.stdoutText)")
            throw error
        }
    }

    func stanza(_ name: String) throws -> Stanza {
        try #require(stanzas.first { $0.name == name }, "no stanza '\(name)' in info: \(stanzas.map(\.name))")
    }
}

/// Makes a repository (directory 0700 and key file 0600, owned by the server user) and runs
/// `tidemark init` on it, asserting success.
func initializedRepository(
    in scratch: ScratchDirectory, name: String = "repository", binary: TidemarkBinary, user: SystemUser?,
    environment extra: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation
) async throws -> (RepositoryFixture, TidemarkRunner) {
    let repository = try RepositoryFixture.create(in: scratch, name: name, owner: user)
    let tidemark = TidemarkRunner(binary: binary, environment: repository.environment.merging(extra) { _, new in new }, user: user)
    let result = try await tidemark.run("init")
    try #require(result.exitCode == 0, "tidemark init failed: \(result)", sourceLocation: sourceLocation)
    return (repository, tidemark)
}

/// Compares two files byte for byte; records an issue naming the first differing offset.
@discardableResult
func expectSameBytes(
    _ fetchedPath: String, _ originalPath: String, _ context: @autoclosure () -> String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> Bool {
    let fetched = try FileManager.default.readFile(fetchedPath)
    let original = try FileManager.default.readFile(originalPath)
    if fetched == original { return true }
    let firstDifference = zip(fetched, original).enumerated().first { $0.element.0 != $0.element.1 }?.offset
    Issue.record(
        """
        \(fetchedPath) differs from \(originalPath): \(fetched.count) vs \(original.count) bytes, \
        first difference at offset \(firstDifference.map(String.init) ?? "end of the shorter file"). \(context())
        """, sourceLocation: sourceLocation)
    return false
}

/// `<directory>/<name>`'s last path component.
func baseName(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
}

/// Files under `directory` (recursively) whose name starts with `.tmp.`: what killed writers
/// leave behind. Observed, not asserted: the store documents that later writes remove them.
func temporaryFiles(under directory: String) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
    return walker.compactMap { $0 as? String }.filter { baseName($0).hasPrefix(".tmp.") }
}

/// "The stderr of an expected, quiet outcome": at most one short line, no ERROR.
func isQuiet(_ stderr: String) -> Bool {
    let text = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
    return text.count < 200 && !text.contains("\n") && !text.contains("ERROR")
}
