import Foundation
import PostgresReplication
import Testing
import TidemarkTesting

/// Cross-checks `TarReader` against archives written by `/bin/tar` (GNU tar) in each of its
/// formats, from a directory whose contents the test knows.
@Suite("Tar reader against /bin/tar", .timeLimit(.minutes(2)))
struct SystemTarTests {
    enum Entry: Equatable {
        case file([UInt8], mode: UInt32)
        case directory(mode: UInt32)
        case symlink(String)
    }

    /// Relative path → what it is, including a 0-byte file, block-boundary sizes, a symlink, a
    /// path longer than 100 bytes and a name longer than 100 bytes.
    static func tree() -> [String: Entry] {
        let deep = (1...6).map { "level\($0)-" + String(repeating: "x", count: 14) }.joined(separator: "/")
        let longLeaf = String(repeating: "n", count: 120)
        var tree: [String: Entry] = [
            "empty": .file([], mode: 0o600),
            "one": .file([42], mode: 0o644),
            "block": .file(pattern(512, seed: 2), mode: 0o600),
            "block-plus-one": .file(pattern(513, seed: 3), mode: 0o640),
            "sub": .directory(mode: 0o750),
            "sub/big": .file(pattern(70_000, seed: 4), mode: 0o600),
            "sub/link": .symlink("../one"),
            "sub/" + longLeaf: .file(pattern(10, seed: 5), mode: 0o600),
        ]
        var prefix = ""
        for component in deep.split(separator: "/") {
            prefix += (prefix.isEmpty ? "" : "/") + component
            tree[prefix] = .directory(mode: 0o700)
        }
        tree[deep + "/leaf"] = .file(pattern(1000, seed: 6), mode: 0o600)
        return tree
    }

    static func materialize(_ tree: [String: Entry], in root: String) throws {
        for path in tree.keys.sorted() {
            let full = root + "/" + path
            switch tree[path]! {
            case .directory(let mode):
                try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
                try FileManager.default.setMode(full, Int(mode))
            case .file(let bytes, let mode):
                try FileManager.default.writeFile(full, Data(bytes), mode: Int(mode), owner: nil)
            case .symlink(let target):
                try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: target)
            }
        }
    }

    @Test(arguments: ["gnu", "ustar", "pax", "oldgnu"])
    func parsesWhatSystemTarWrites(format: String) async throws {
        let scratch = try ScratchDirectory(prefix: "tm-tar")
        let root = scratch.child("root")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
        var tree = Self.tree()
        if format == "ustar" {
            // ustar cannot store a single name component longer than 100 bytes.
            tree = tree.filter { !$0.key.hasPrefix("sub/nnn") }
        }
        try Self.materialize(tree, in: root)
        let top = Set(tree.keys.map { String($0.split(separator: "/")[0]) }).sorted()
        let archive = scratch.child("out.tar")
        try await ChildProcess.run(
            Command("/bin/tar", ["--format=\(format)", "-cf", archive, "-C", root] + top, timeout: .seconds(60))
        ).checked()

        let bytes = [UInt8](try FileManager.default.readFile(archive))
        #expect(bytes.count % 10240 == 0, "GNU tar pads to its record size")
        var found: [String: Entry] = [:]
        var current: (path: String, mode: UInt32, size: Int64, data: [UInt8])?
        var reader = TarReader()
        // Odd chunk sizes, so entries straddle every kind of boundary.
        var offset = 0
        var chunk = 1
        while offset < bytes.count {
            let end = min(bytes.count, offset + chunk)
            for event in try reader.consume(Array(bytes[offset..<end])) {
                switch event {
                case .directory(let path, let mode): found[path] = .directory(mode: mode)
                case .symlink(let path, let target): found[path] = .symlink(target)
                case .fileStarted(let path, let size, let mode, _): current = (path, mode, size, [])
                case .fileData(let piece): current?.data += piece
                case .fileEnded:
                    let file = try #require(current)
                    #expect(Int64(file.data.count) == file.size, "\(file.path)")
                    found[file.path] = .file(file.data, mode: file.mode)
                    current = nil
                case .endOfArchive: break
                }
            }
            offset = end
            chunk = chunk * 3 % 4099 + 1
        }
        try reader.finish()
        #expect(found.keys.sorted() == tree.keys.sorted())
        for (path, entry) in tree {
            #expect(found[path] == entry, "\(format): \(path)")
        }
    }
}
