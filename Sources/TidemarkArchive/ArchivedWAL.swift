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
    /// Segments whose own object (not only a `.partial`, `.backup` or summary) is archived.
    package var fullSegments: [TimelineID: Set<SegmentNumber>] = [:]

    package init() {}

    /// Bytes per segment, for `RetentionInput.segments`.
    package var segmentBytes: [TimelineID: [SegmentNumber: Int64]] {
        objects.mapValues { $0.mapValues { $0.reduce(0) { $0 + $1.size } } }
    }

    /// The full segments (not only `.partial` or `.backup` files) of `timeline`, newest first.
    package func segmentsNewestFirst(_ timeline: TimelineID, size: WALSegmentSize) -> [WALSegmentName] {
        (fullSegments[timeline] ?? []).sorted(by: >).map { WALSegmentName(timeline: timeline, segment: $0, size: size) }
    }

    /// Lists the stanza's WAL (one listing per WAL directory) and the reindex summaries.
    package static func list(_ repository: Repository, stanza: String, size: WALSegmentSize, parallel: Int = 16) async throws -> ArchivedWAL {
        let store = repository.store
        var out = ArchivedWAL()
        func add(_ object: ObjectInfo, base: String) {
            // Most objects are segments: 24 hex digits, parsed without searching the name.
            if base.utf8.count == 24 {
                guard case .segment(let s)? = WALFileName(base), let n = s.segmentNumber(size: size) else { return }
                out.objects[s.timeline, default: [:]][n, default: []].append(object)
                out.fullSegments[s.timeline, default: []].insert(n)
                return
            }
            var name = base
            // A second, different .partial is kept as `<segment>.partial-<sha16>`.
            if name.utf8.count == 24 + 9 + 16, name.utf8.dropFirst(24).starts(with: ".partial-".utf8) {
                name = String(name.prefix(24)) + ".partial"
            }
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
        var prefixes: [String] = []
        for top in [RepositoryLayout.walPrefix(stanza), "\(stanza)/walindex/"] {
            prefixes += try await store.list(prefix: top).prefixes
        }
        // One listing per WAL directory, `parallel` at a time.
        try await withThrowingTaskGroup(of: [ObjectInfo].self) { group in
            var next = 0
            func start() {
                guard next < prefixes.count else { return }
                let prefix = prefixes[next]
                next += 1
                group.addTask { try await store.list(prefix: prefix).objects }
            }
            for _ in 0..<parallel { start() }
            while let objects = try await group.next() {
                for object in objects {
                    let base = object.key.lastIndex(of: "/").map { String(object.key[object.key.index(after: $0)...]) } ?? object.key
                    add(object, base: base)
                }
                start()
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
