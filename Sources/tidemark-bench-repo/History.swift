import Foundation
import TidemarkBackup
import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkTesting

/// The generated history: which segment holds which commit time, and where each backup lies.
struct History: Sendable {
    let segments: Int
    let backups: Int
    let start: Date
    let span: Double
    let size: WALSegmentSize

    /// Segment `i` (0-based) of timeline 1; the first is segment 1 (segment 0 holds no WAL).
    func segment(_ i: Int) -> WALSegmentName {
        WALSegmentName(timeline: TimelineID(1), segment: UInt64(i + 1), size: size)
    }

    func date(ofSegment i: Int) -> Date {
        start.addingTimeInterval(span * Double(i) / Double(max(1, segments - 1)))
    }

    func commitTime(_ i: Int) -> PostgresTimestamp {
        PostgresTimestamp(unixMicroseconds: Int64((date(ofSegment: i).timeIntervalSince1970 * 1e6).rounded()))
    }

    /// The LSN of segment `i`'s commit record.
    func commitLSN(_ i: Int) -> LSN {
        LSN((segment(i).startLSN(size: size)?.rawValue ?? 0) + UInt64(SyntheticWAL.commitOffset))
    }

    struct BackupPlan: Sendable {
        var index: Int
        var id: BackupID
        var parent: BackupID?
        /// Segments holding the backup's start and stop.
        var startSegment: Int
        var stopSegment: Int
    }

    /// Every 7th backup a full, the others incrementals on the one before; spaced evenly, the
    /// last one inside the last day of WAL.
    func backupPlans() -> [BackupPlan] {
        var plans: [BackupPlan] = []
        for b in 0..<backups {
            let fraction = (Double(b) + 0.5) / Double(backups)
            let s = min(segments - 2, Int(fraction * Double(segments - 1)))
            let type: BackupType = b % 7 == 0 ? .full : .incremental
            let when = date(ofSegment: s)
            let stamp = when.formatted(.iso8601.year().month().day().dateSeparator(.omitted)) + "-"
                + when.formatted(.iso8601.time(includingFractionalSeconds: false).timeSeparator(.omitted))
            guard let id = BackupID(rawValue: stamp + (type == .full ? "F" : "I")) else { continue }
            plans.append(BackupPlan(index: b, id: id, parent: type == .full ? nil : plans.last?.id, startSegment: s, stopSegment: s + 1))
        }
        return plans
    }
}

extension History {
    static let packNames = ["pack-00000", "pack-00001"]

    /// Deterministic, incompressible-ish bytes (a pack's content does not matter here).
    static func filler(_ count: Int, seed: UInt64) -> [UInt8] {
        var x = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            x ^= x << 13
            x ^= x >> 7
            x ^= x << 17
            return UInt8(truncatingIfNeeded: x)
        }
    }
}

extension BenchRepo {
    /// Two packs, a blockmap, then the catalog (last, as a backup writes it).
    static func writeBackup(_ plan: History.BackupPlan, plans: [History.BackupPlan], history: History, store: BackupStore) async throws {
        var stored: Int64 = 0
        var own: [PackRef] = []
        for (n, name) in History.packNames.enumerated() {
            let bytes = History.filler(4096, seed: UInt64(plan.index * 2 + n + 1))
            let size = try await store.putObject(plan.id, name, bytes, kind: .backupData)
            own.append(PackRef(backup: plan.id, name: name, storedSize: size))
            stored += size
        }
        stored += try await store.putObject(plan.id, "blockmap", History.filler(32, seed: UInt64(plan.index + 7)), kind: .catalog)
        // An incremental reads its chain's packs too: back to the full.
        var packs = own
        var i = plan.index
        while plans[i].parent != nil && i > 0 {
            i -= 1
            packs += History.packNames.map { PackRef(backup: plans[i].id, name: $0, storedSize: 4096) }
        }
        let entries = [
            CatalogEntry(path: "base", kind: .directory, mode: 0o700),
            CatalogEntry(path: "base/1", kind: .directory, mode: 0o700),
            CatalogEntry(path: "base/1/1259", kind: .file, mode: 0o600, size: 16384, modified: 1_700_000_000,
                         extents: [Extent(firstBlock: 0, count: 1, pack: 0, offset: 0), Extent(firstBlock: 1, count: 1, pack: 1, offset: 0)]),
            CatalogEntry(path: "PG_VERSION", kind: .file, mode: 0o600, size: 3, modified: 1_700_000_000,
                         extents: [Extent(firstBlock: 0, count: 1, pack: 0, offset: 8192)]),
        ]
        let started = history.date(ofSegment: plan.startSegment)
        let stopped = history.date(ofSegment: plan.stopSegment)
        let startLSN = history.commitLSN(plan.startSegment)
        let label = "START WAL LOCATION: \(startLSN) (file \(history.segment(plan.startSegment)))\nLABEL: bench \(plan.index)\n"
        let catalog = BackupCatalog(
            id: plan.id, type: plan.id.type, parent: plan.parent, label: "bench \(plan.index)",
            startTime: started.formatted(.iso8601), stopTime: stopped.formatted(.iso8601),
            startLSN: startLSN, stopLSN: LSN(history.commitLSN(plan.stopSegment).rawValue + 32),
            timeline: 1, stopTimeline: 1, postgresVersion: 150_004, systemIdentifier: "7300000000000000001",
            walSegmentSize: history.size.rawValue, blockSize: 8192, backupLabel: label, tablespaceMap: nil, tablespaces: [],
            databaseSize: 1 << 30, storedSize: stored, durationSeconds: stopped.timeIntervalSince(started),
            packs: packs, entries: entries)
        _ = try await store.putObject(plan.id, "catalog", Array(try JSONEncoder().encode(catalog)), kind: .catalog)
    }
}
