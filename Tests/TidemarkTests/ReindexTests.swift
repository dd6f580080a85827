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

@Suite("reindex")
struct ReindexTests {
    /// Segments archived without WAL facts get index objects; the planner's loader then sees
    /// the same facts a scan of the segment gives; archived objects are untouched.
    @Test func indexesSegmentsArchivedWithoutFactsAndLeavesThemAlone() async throws {
        let scratch = try Scratch()
        let configuration = try ConfigurationLoader.load(
            configPath: nil, stanza: nil,
            environment: ["BACKUP_DIR": scratch.path + "/repo", "BACKUP_ENCRYPTION_KEY": "reindex test passphrase"])
        _ = try await Engine(configuration).initialize(parameters: fastKDF)
        let repo = try #require(try await Engine(configuration).openRepositories().first)
        var old = WALArchive(repository: repo, stanza: "main", compression: .lz4)
        old.recordsWALFacts = false
        let size = WALSegmentSize(rawValue: 1 << 20)!
        var names: [WALSegmentName] = []
        for i in 1...4 {
            let name = WALSegmentName(timeline: TimelineID(1), log: 0, seg: UInt32(i))
            let path = try scratch.write(name.description, SyntheticWAL.segment(name, size: size, seed: UInt8(i)))
            _ = try await old.push(path: path)
            names.append(name)
        }
        // A fifth, archived the current way, needs no index.
        let fifth = WALSegmentName(timeline: TimelineID(1), log: 0, seg: 5)
        _ = try await WALArchive(repository: repo, stanza: "main", compression: .lz4)
            .push(path: try scratch.write(fifth.description, SyntheticWAL.segment(fifth, size: size, seed: 5)))
        let objectsBefore = try walObjectDigests(scratch.path + "/repo/main/wal")

        let loader = WALInventoryLoader(repository: repo, stanza: "main", size: size)
        #expect(try await loader.load().facts.keys.sorted() == [fifth], "before reindex only the new segment has facts")

        let reports = try await Engine(configuration).reindex()
        #expect(reports.first?.indexed == names.map(\.description))
        #expect(reports.first?.alreadyIndexed == 1)
        #expect(reports.first?.failed == [])
        let facts = try await loader.load().facts
        #expect(facts.keys.sorted() == names + [fifth])
        for name in names {
            let bytes = try scratch.read(name.description)
            #expect(facts[name] == WALSummaryFacts(scan: WALSegmentScan.scan(bytes, name: name, size: size)), "\(name)")
        }
        #expect(try walObjectDigests(scratch.path + "/repo/main/wal") == objectsBefore, "archived objects changed")
        // Idempotent: nothing left to do.
        #expect(try await Engine(configuration).reindex().first?.indexed == [])

        // A tampered index object is caught, not trusted.
        let indexFile = scratch.path + "/repo/" + RepositoryLayout.walIndex("main", names[0])
        var tampered = Array(try Data(contentsOf: URL(fileURLWithPath: indexFile)))
        tampered[tampered.count / 2] ^= 0x01
        try Data(tampered).write(to: URL(fileURLWithPath: indexFile))
        await #expect(throws: TidemarkError.self) { _ = try await loader.load() }
    }

    func walObjectDigests(_ root: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let walker = FileManager.default.enumerator(atPath: root)
        while let p = walker?.nextObject() as? String {
            let data = try? Data(contentsOf: URL(fileURLWithPath: root + "/" + p))
            if let data { out[p] = data }
        }
        return out
    }
}
