import Foundation
import Testing

/// The module order of docs/architecture.md, checked against the sources: a module imports
/// only modules listed before it, no module passes 4,000 lines and no file 450.
@Suite("Module layering")
struct ModuleLayeringTests {
    /// Lowest first. Modules on one line are peers: neither imports the other.
    static let layers: [[String]] = [
        ["TidemarkCore"],
        ["TidemarkSystem", "TidemarkPolicy"],
        ["TidemarkCodec", "TidemarkStorage", "PostgresReplication"],
        ["TidemarkS3", "TidemarkNotify"],
        ["TidemarkRepository"],
        ["TidemarkArchive", "TidemarkBackup", "TidemarkAudit", "TidemarkFiles"],
        ["TidemarkRetention", "TidemarkVerify", "TidemarkConfiguration"],
        ["Tidemark"],
        ["TidemarkArchiver"],
        ["TidemarkServer"],
        ["TidemarkAPI"],
        ["tidemark"],
    ]
    /// Test support sits beside the engine: it may use only these.
    static let testingMayImport: Set<String> = ["TidemarkCore", "TidemarkSystem", "TidemarkStorage", "TidemarkS3"]

    static var sources: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources")
    }

    static func swiftFiles(of module: String) throws -> [URL] {
        let directory = sources.appendingPathComponent(module)
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else { return [] }
        return walker.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
    }

    static func imports(of file: URL) throws -> Set<String> {
        let text = try String(contentsOf: file, encoding: .utf8)
        var found: Set<String> = []
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            if let i = words.firstIndex(of: "import"), i + 1 < words.count, words[..<i].allSatisfy({ $0.hasPrefix("@") }) {
                found.insert(String(words[i + 1]))
            }
        }
        return found
    }

    static func rank(_ module: String) -> Int? { layers.firstIndex { $0.contains(module) } }

    @Test func everyModuleImportsOnlyModulesBelowIt() throws {
        var violations: [String] = []
        for layer in Self.layers {
            for module in layer {
                let files = try Self.swiftFiles(of: module)
                #expect(!files.isEmpty, "no sources found for \(module)")
                for file in files {
                    for imported in try Self.imports(of: file) {
                        guard let theirs = Self.rank(imported), let mine = Self.rank(module) else { continue }
                        if theirs >= mine && imported != module {
                            violations.append("\(module)/\(file.lastPathComponent) imports \(imported)")
                        }
                    }
                }
            }
        }
        for file in try Self.swiftFiles(of: "TidemarkTesting") {
            for imported in try Self.imports(of: file) where Self.rank(imported) != nil && !Self.testingMayImport.contains(imported) {
                violations.append("TidemarkTesting/\(file.lastPathComponent) imports \(imported)")
            }
        }
        #expect(violations.isEmpty, "imports against the layering of docs/architecture.md:\n\(violations.joined(separator: "\n"))")
    }

    @Test func modulesAndFilesStayReadable() throws {
        let modules = try FileManager.default.contentsOfDirectory(atPath: Self.sources.path)
        var tooLong: [String] = []
        for module in modules {
            var total = 0
            for file in try Self.swiftFiles(of: module) {
                let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).count
                total += lines
                if lines > 450 { tooLong.append("\(module)/\(file.lastPathComponent): \(lines) lines (at most 450)") }
            }
            if total > 4_000 { tooLong.append("\(module): \(total) lines (at most 4,000)") }
        }
        #expect(tooLong.isEmpty, "split these:\n\(tooLong.joined(separator: "\n"))")
    }
}
