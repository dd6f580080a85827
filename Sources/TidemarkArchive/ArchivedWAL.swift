import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage
import TidemarkSystem

/// Every WAL object of a stanza, grouped by the segment it belongs to: what retention weighs
/// and what expire deletes. A segment's objects are the segment itself, its `.partial` files,
/// the `.backup` files named after it and its summary in the reindex index. History files are
/// listed apart (they are never deleted).
package struct ArchivedWAL: Sendable {
    package var objects: [TimelineID: [SegmentNumber: [ObjectInfo]]] = [:]
    /// Timelines with a history file, and the file's key.
    package var historyKeys: [TimelineID: String] = [:]

    package init() {}

    /// Bytes per segment, for `RetentionInput.segments`.
    package var segmentBytes: [TimelineID: [SegmentNumber: Int64]] {
        objects.mapValues { $0.mapValues { $0.reduce(0) { $0 + $1.size } } }
    }

    /// The full segments (not only `.partial` or `.backup` files) of `timeline`, newest first.
    package func segmentsNewestFirst(_ timeline: TimelineID, size: WALSegmentSize) -> [WALSegmentName] {
        let numbers = (objects[timeline] ?? [:]).compactMap { (number: SegmentNumber, objects: [ObjectInfo]) -> SegmentNumber? in
            let name = WALSegmentName(timeline: timeline, segment: number, size: size)
            return objects.contains { $0.key.hasSuffix("/" + name.description) } ? number : nil
        }
        return numbers.sorted(by: >).map { WALSegmentName(timeline: timeline, segment: $0, size: size) }
    }

    /// Lists the stanza's WAL (one listing per WAL directory) and the reindex summaries.
    package static func list(_ repository: Repository, stanza: String, size: WALSegmentSize) async throws -> ArchivedWAL {
        let store = repository.store
        var out = ArchivedWAL()
        func add(_ object: ObjectInfo, base: String) {
            var name = base
            // A second, different .partial is kept as `<segment>.partial-<sha16>`.
            if let r = name.range(of: ".partial-") { name = String(name[..<r.lowerBound]) + ".partial" }
            if name.hasSuffix(".summary") { name = String(name.dropLast(".summary".count)) }
            guard let file = WALFileName(name) else { return }
            switch file {
            case .history(let tl):
                out.historyKeys[tl] = object.key
            case .segment(let s), .partial(let s), .backupHistory(let s, _):
                guard let n = s.segmentNumber(size: size) else { return }
                out.objects[s.timeline, default: [:]][n, default: []].append(object)
            }
        }
        for top in [RepositoryLayout.walPrefix(stanza), "\(stanza)/walindex/"] {
            let listing = try await store.list(prefix: top)
            for prefix in listing.prefixes {
                for object in try await store.list(prefix: prefix).objects {
                    add(object, base: String(object.key.split(separator: "/").last ?? ""))
                }
            }
        }
        return out
    }
}

extension WALInventoryLoader {
    /// The newest commit archived on each timeline of `wal` (seconds since the epoch): the
    /// summaries of its newest segments are read, newest first, until one holds a commit.
    /// A timeline whose summaries hold none (or were archived without summaries) is absent.
    package func lastCommits(_ wal: ArchivedWAL, batch: Int = 32) async throws -> [TimelineID: Int64] {
        var out: [TimelineID: Int64] = [:]
        for timeline in wal.objects.keys {
            let names = wal.segmentsNewestFirst(timeline, size: size)
            var i = 0
            search: while i < names.count {
                let slice = Array(names[i..<min(i + batch, names.count)])
                for (_, summary) in try await summaries(of: slice) {
                    if let t = summary?.wal?.summary.maxTime {
                        out[timeline] = Int64(t.unixSeconds.rounded(.down))
                        break search
                    }
                }
                i += batch
            }
        }
        return out
    }
}
