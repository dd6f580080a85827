#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup

public struct ReindexReport: Sendable {
    public var repository: String
    public var segments: Int
    /// Segments whose object already carries WAL facts, or that have an index entry.
    public var alreadyIndexed: Int
    public var indexed: [String]
    public var failed: [String]
}


extension Engine {
    /// `tidemark reindex`: adds the recovery planner's WAL facts for segments archived without
    /// them (by version 1), as index objects beside the archive. Each segment is read,
    /// authenticated and scanned; nothing archived is modified.
    public func reindex(force: Bool = false,
                               progress: @Sendable (String) -> Void = { _ in }) async throws -> [ReindexReport] {
        var reports: [ReindexReport] = []
        for (spec, repo) in zip(configuration.repositories, try await openRepositories()) {
            guard let info = try await repo.stanzaInfo(configuration.stanza),
                  let size = WALSegmentSize(rawValue: info.walSegmentSize) else {
                reports.append(ReindexReport(repository: spec.name, segments: 0, alreadyIndexed: 0, indexed: [], failed: []))
                continue
            }
            let loader = WALInventoryLoader(repository: repo, stanza: configuration.stanza, size: size)
            let (inventory, facts) = try await loader.load()
            var report = ReindexReport(repository: spec.name, segments: 0, alreadyIndexed: 0, indexed: [], failed: [])
            let names = inventory.segments.flatMap { tl, set in set.map { WALSegmentName(timeline: tl, segment: $0, size: size) } }.sorted()
            report.segments = names.count
            for name in names {
                if facts[name] != nil && !force {
                    report.alreadyIndexed += 1
                    continue
                }
                do {
                    let scan = try await loader.scan(name)
                    var summary = WALSummary(version: 2, name: name.description, kind: "segment", timeline: name.timeline.rawValue,
                                             systemIdentifier: scan.systemIdentifier.map(String.init),
                                             startLSN: name.startLSN(size: size), endLSN: name.startLSN(size: size).map { LSN($0.rawValue + size.rawValue) },
                                             size: size.rawValue)
                    summary.wal = WALSummaryFacts(scan: scan)
                    let object = encodeEnvelope(WALSummary.encode(summary), key: repo.key, kind: .walIndex, compression: .none).bytes
                    _ = try await repo.store.put(RepositoryLayout.walIndex(configuration.stanza, name), bytes: object, ifAbsent: !force)
                    report.indexed.append(name.description)
                    progress("indexed \(name) in '\(spec.name)'")
                } catch {
                    report.failed.append("\(name): \(TidemarkError.wrap(error, doing: "index \(name)").message)")
                }
            }
            reports.append(report)
        }
        return reports
    }
}
