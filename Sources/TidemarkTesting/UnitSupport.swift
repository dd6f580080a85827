import Foundation
// A release build of a tool that uses TidemarkTesting (tidemark-bench-repo) has no Testing
// module; the helpers that need it exist only where it does.
#if canImport(Testing)
import Testing
#endif
import TidemarkCore

// Helpers the unit-test targets share (every module's tests use them).

/// A scratch directory removed at the end of a test.
public final class Scratch {
    public let path: String
    public init() throws {
        path = TestTemporaryRoot.path + "/tm-unit-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    public func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }
    public func read(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path + "/" + name)))
    }
    public func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path + "/" + name) }
    public var entries: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path))?.sorted() ?? [] }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The passphrase of unit-test repositories.
public let testPassphrase = Secret(Array("correct horse battery staple".utf8))

public func segmentName(_ text: String) -> WALSegmentName {
    guard let name = WALSegmentName(text) else { fatalError("bad test segment name \(text)") }
    return name
}

#if canImport(Testing)
/// Runs `body`, expecting a `TidemarkError` with `code`; returns it.
public func expectError(_ code: TidemarkError.Code, _ body: () async throws -> Void,
                 sourceLocation: SourceLocation = #_sourceLocation) async -> TidemarkError? {
    do {
        try await body()
        Issue.record("expected a \(code) error, got success", sourceLocation: sourceLocation)
    } catch let error as TidemarkError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected TidemarkError \(code), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
#endif
