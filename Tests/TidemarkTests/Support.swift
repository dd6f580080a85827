import Foundation
import Testing
@testable import Tidemark
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkSystem
@testable import TidemarkRepository
@testable import TidemarkArchive
@testable import TidemarkBackup

/// A scratch directory removed at the end of a test.
final class Scratch {
    let path: String
    init() throws {
        path = TestTemporaryRoot.path + "/tm-unit-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }
    func read(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path + "/" + name)))
    }
    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path + "/" + name) }
    var entries: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path))?.sorted() ?? [] }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

let testPassphrase = Secret(Array("correct horse battery staple".utf8))
let fastKDF = ScryptParameters(logN: 10)

func makeArchive(store: MemoryStore = MemoryStore(), stanza: String = "main") async throws -> (WALArchive, MemoryStore) {
    let repo = try await Repository.initialize(store: store, passphrase: testPassphrase, parameters: fastKDF)
    return (WALArchive(repository: repo, stanza: stanza, compression: .lz4), store)
}

func segmentName(_ text: String) -> WALSegmentName {
    guard let name = WALSegmentName(text) else { fatalError("bad test segment name \(text)") }
    return name
}

func expectError(_ code: TidemarkError.Code, _ body: () async throws -> Void,
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
