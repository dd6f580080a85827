#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCore
import TidemarkSystem
import TidemarkCodec
import TidemarkStorage
import TidemarkRepository

/// The small, encrypted summary at the front of every archived WAL object, readable with one
/// ranged GET (docs/format.md). Version 1 records identity and LSN range; later versions add
/// commit-time bounds and restore points for the recovery planner, so every field a newer
/// writer adds must be optional here.
public struct WALSummary: Codable, Sendable, Equatable {
    public var version: Int
    /// The archived file name; checked on fetch so a swapped object is caught.
    public var name: String
    public var kind: String
    public var timeline: UInt32
    public var systemIdentifier: String?
    public var startLSN: LSN?
    public var endLSN: LSN?
    public var size: UInt64
    /// Version 2: what the segment holds for the recovery planner (commit times, restore
    /// points, timeline start). Absent for other kinds and for segments archived by version 1
    /// (`tidemark reindex` adds it).
    package var wal: WALSummaryFacts?

    package static func encode(_ s: WALSummary) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding plain strings and integers cannot fail.
        return (try? Array(encoder.encode(s))) ?? []
    }

    package init(version: Int, name: String, kind: String, timeline: UInt32, systemIdentifier: String? = nil, startLSN: LSN? = nil, endLSN: LSN? = nil, size: UInt64, wal: WALSummaryFacts? = nil) {
        self.version = version
        self.name = name
        self.kind = kind
        self.timeline = timeline
        self.systemIdentifier = systemIdentifier
        self.startLSN = startLSN
        self.endLSN = endLSN
        self.size = size
        self.wal = wal
    }
}
