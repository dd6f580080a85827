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

/// A file-system repository with synthetic WAL (1 MiB segments on timeline 1) and synthetic
/// backup catalogs at chosen end times, for engine-level expire tests.
struct ExpireTestRepository {
    static let size = WALSegmentSize(rawValue: 1 << 20)!
    let scratch: Scratch
    let configuration: Configuration
    let repository: Repository

    var root: String { scratch.path + "/repo" }

    /// A file-system repository (`BACKUP_DIR`), or the repositories of `configFile` (its text).
    init(environment: [String: String] = [:], configFile: String? = nil) async throws {
        let scratch = try Scratch()
        self.scratch = scratch
        var env = ["BACKUP_ENCRYPTION_KEY": "expire test passphrase"]
        if configFile == nil { env["BACKUP_DIR"] = scratch.path + "/repo" }
        env.merge(environment) { _, new in new }
        var path: String?
        if let configFile { path = try scratch.write("tidemark.json", Array(configFile.utf8)) }
        configuration = try ConfigurationLoader.load(configPath: path, stanza: nil, environment: env)
        _ = try await Engine(configuration).initialize(parameters: fastKDF)
        repository = try #require(try await Engine(configuration).openRepositories().first)
    }

    func engine(now: Date) -> Engine { Engine(configuration, now: { now }) }

    /// Archives segments `range` of timeline 1.
    func archive(_ range: ClosedRange<UInt32>) async throws {
        let archive = WALArchive(repository: repository, stanza: "main", compression: .lz4)
        for i in range {
            let name = WALSegmentName(timeline: TimelineID(1), log: 0, seg: i)
            let path = try scratch.write(name.description, SyntheticWAL.segment(name, size: Self.size, seed: UInt8(i % 250)))
            _ = try await archive.push(path: path)
            unlink(path)
        }
    }

    /// Writes a complete backup whose WAL runs from segment `start` to `stop`, ending at `end`:
    /// two pack objects and a catalog.
    @discardableResult
    func backup(_ id: String, parent: String? = nil, start: UInt32, stop: UInt32, end: Date) async throws -> BackupID {
        let backupID = try #require(BackupID(rawValue: id))
        let startLSN = LSN(rawValue: UInt64(start) << 20 + 40)
        let stopLSN = LSN(rawValue: UInt64(stop) << 20 + 256)
        let stamp = PostgresTimestamp(unixSeconds: Int64(end.timeIntervalSince1970)).iso8601
        var packs: [PackRef] = []
        for n in 0..<2 {
            let name = "pack-0000\(n)"
            let bytes = encodeEnvelope(Array(repeating: UInt8(n), count: 3000), key: repository.key, kind: .backupData, compression: .none).bytes
            _ = try await repository.store.put(RepositoryLayout.backupObject("main", backupID, name), bytes: bytes, ifAbsent: true)
            packs.append(PackRef(backup: backupID, name: name, storedSize: Int64(bytes.count)))
        }
        let catalog = BackupCatalog(
            id: backupID, type: backupID.type, parent: parent.flatMap { BackupID(rawValue: $0) }, label: id, startTime: stamp,
            stopTime: stamp, startLSN: startLSN, stopLSN: stopLSN, timeline: 1, stopTimeline: 1, postgresVersion: 150000,
            systemIdentifier: "7300000000000000001", walSegmentSize: Self.size.rawValue, blockSize: 8192, backupLabel: "",
            tablespaceMap: nil, tablespaces: [], databaseSize: 1 << 20, storedSize: Int64(packs.reduce(0) { $0 + $1.storedSize }),
            durationSeconds: 1, packs: packs, entries: [])
        let json = try JSONEncoder().encode(catalog)
        let bytes = encodeEnvelope(Array(json), key: repository.key, kind: .catalog, compression: .none).bytes
        _ = try await repository.store.put(RepositoryLayout.backupObject("main", backupID, "catalog"), bytes: bytes, ifAbsent: true)
        return backupID
    }

    /// Every file under the repository with its bytes (what "byte-identical" compares).
    func snapshot() throws -> [String: Data] {
        var out: [String: Data] = [:]
        let base = URL(fileURLWithPath: root)
        guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey]) else { return out }
        for case let url as URL in walker where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            out[String(url.path.dropFirst(root.count))] = try Data(contentsOf: url)
        }
        return out
    }

    /// Every object but the two a run rewrites whatever it deletes: the lock's lease and the catalog index.
    func objects() throws -> [String: Data] {
        try snapshot().filter { !$0.key.contains("/lock/") && !$0.key.hasSuffix("/catalog.index") }
    }

    func totalBytes() throws -> Int64 { try objects().values.reduce(0) { $0 + Int64($1.count) } }
}
