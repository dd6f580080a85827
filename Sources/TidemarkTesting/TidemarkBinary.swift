import Foundation

/// The built `tidemark` executable, copied where the `postgres` user can run it.
///
/// PostgreSQL runs `archive_command` as `postgres`, which may not be allowed into the build
/// directory (a clone under `/root`, say), so tests run a copy in a world-readable directory.
/// The copy and its directory are removed when the value's last reference goes away.
public final class TidemarkBinary: Sendable {
    /// Path of the runnable copy (mode 0755 in a 0755 directory).
    public let path: String
    /// Path of the build product it was copied from.
    public let source: String
    private let directory: ScratchDirectory

    private init(path: String, source: String, directory: ScratchDirectory) {
        self.path = path
        self.source = source
        self.directory = directory
    }

    /// Locates the build product and copies it into a fresh world-readable directory.
    public static func install(filePath: String = #filePath) throws -> TidemarkBinary {
        let source = try locate(filePath: filePath)
        let directory = try ScratchDirectory(prefix: "tidemark-bin", mode: 0o755)
        let path = directory.child("tidemark")
        do {
            try FileManager.default.copyItem(atPath: source, toPath: path)
        } catch {
            throw TestingError(.fileSystem, "unable to copy '\(source)' to '\(path)': \(error)")
        }
        try FileManager.default.setMode(path, 0o755)
        return TidemarkBinary(path: path, source: source, directory: directory)
    }

    /// Finds the `tidemark` build product:
    /// 1. `TIDEMARK_BINARY`, if set (it must then name an executable file);
    /// 2. next to the running test executable (the build that produced these tests, whatever
    ///    `--scratch-path` was used);
    /// 3. the newest of `<package>/.build*/debug/tidemark` and
    ///    `<package>/.build*/<triple>/debug/tidemark`, the package root being derived from
    ///    `filePath`.
    /// Throws `binaryNotFound` ("build it first: swift build") when none exists.
    public static func locate(filePath: String = #filePath) throws -> String {
        let manager = FileManager.default
        if let explicit = ProcessInfo.processInfo.environment["TIDEMARK_BINARY"], !explicit.isEmpty {
            guard isExecutableFile(explicit) else {
                throw TestingError(
                    .binaryNotFound, "TIDEMARK_BINARY='\(explicit)' is not an executable file",
                    hints: ["build it first: swift build", "or unset TIDEMARK_BINARY"])
            }
            return explicit
        }
        var searched: [String] = []
        if let sibling = siblingOfTestExecutable(searched: &searched) { return sibling }

        let root = packageRoot(filePath: filePath)
        var candidates: [String] = []
        let entries = (try? manager.contentsOfDirectory(atPath: root)) ?? []
        for entry in entries.sorted() where entry == ".build" || entry.hasPrefix(".build-") || entry.hasPrefix(".build_") {
            let scratch = root + "/" + entry
            candidates.append(scratch + "/debug/tidemark")
            for triple in ((try? manager.contentsOfDirectory(atPath: scratch)) ?? []).sorted() where triple.contains("-linux") || triple.contains("-apple-") {
                candidates.append(scratch + "/" + triple + "/debug/tidemark")
            }
        }
        searched += candidates
        let newest = candidates.filter(isExecutableFile).max { modificationDate($0) < modificationDate($1) }
        guard let newest else {
            throw TestingError(
                .binaryNotFound, "unable to find the tidemark executable; searched: \(searched.joined(separator: ", "))",
                hints: ["build it first: swift build", "or set TIDEMARK_BINARY to its path"])
        }
        return newest
    }

    /// `tidemark` in the directory of the running executable or one of its ancestors (macOS
    /// nests the test executable inside the `.xctest` bundle).
    private static func siblingOfTestExecutable(searched: inout [String]) -> String? {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let start = FileManager.default.fileExists(atPath: executable)
            ? executable : (Bundle.main.executablePath ?? CommandLine.arguments.first ?? "")
        guard !start.isEmpty else { return nil }
        var directory = URL(fileURLWithPath: start).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("tidemark").path
            searched.append(candidate)
            if isExecutableFile(candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        return nil
    }

    /// `Sources/TidemarkTesting/<file>.swift` → the directory holding `Package.swift`.
    private static func packageRoot(filePath: String) -> String {
        var url = URL(fileURLWithPath: filePath).deletingLastPathComponent()
        for _ in 0..<6 {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
                return url.path
            }
            url.deleteLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath
    }

    private static func isExecutableFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            && !isDirectory.boolValue && FileManager.default.isExecutableFile(atPath: path)
    }

    private static func modificationDate(_ path: String) -> Date {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast
    }
}
