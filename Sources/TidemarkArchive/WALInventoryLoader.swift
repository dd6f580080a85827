#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage
import TidemarkSystem

package struct WALInventoryLoader {
    package let repository: Repository
    package let stanza: String
    package let size: WALSegmentSize
    /// What `load` saw of each segment object (stored size, envelope header), so proving the
    /// plan's segments whole (`checkWhole`) needs only their tails.
    package let seen = SeenObjects()
    package var store: any ObjectStore { repository.store }
    package var location: String { store.location }

    /// Lists segments and history files, reads every history and every segment's summary
    /// (one ranged read each, `parallel` at a time).
    package func load(parallel: Int = 16) async throws -> (WALInventory, facts: [WALSegmentName: WALSummaryFacts]) {
        var segments: [TimelineID: Set<SegmentNumber>] = [:]
        var names: [WALSegmentName] = []
        var histories: [TimelineHistory] = []
        var damaged: [TimelineID: String] = [:]
        let top = try await call("list the WAL of stanza '\(stanza)'") { try await store.list(prefix: RepositoryLayout.walPrefix(stanza)) }
        for prefix in top.prefixes {
            if prefix == RepositoryLayout.historyPrefix(stanza) {
                let listing = try await call("list the timeline histories") { try await store.list(prefix: prefix) }
                for object in listing.objects {
                    let base = String(object.key.split(separator: "/").last ?? "")
                    guard case .history(let tl)? = WALFileName(base) else { continue }
                    // A damaged history is the planner's to judge: it matters only on the target's path.
                    do {
                        histories.append(try await history(tl, key: object.key))
                    } catch let e as TidemarkError where e.code == .corrupt {
                        damaged[tl] = e.message
                    }
                }
                continue
            }
            let listing = try await call("list '\(prefix)'") { try await store.list(prefix: prefix) }
            for object in listing.objects {
                let base = object.key.split(separator: "/").last.map(String.init) ?? ""
                guard case .segment(let name)? = WALFileName(base), let n = name.segmentNumber(size: size) else { continue }
                segments[name.timeline, default: []].insert(n)
                names.append(name)
                seen.record(size: object.size, of: object.key)
            }
        }
        var facts = try await readFacts(names, parallel: parallel)
        // Segments archived without facts may have them in the index `tidemark reindex` writes.
        if facts.count < names.count {
            facts.merge(try await readIndex(names.filter { facts[$0] == nil }), uniquingKeysWith: { a, _ in a })
        }
        var summaries: [WALSegmentName: SegmentSummary] = [:]
        for (name, f) in facts { summaries[name] = f.summary }
        // A record that starts at the end of one segment and ends in the next counts for the first.
        for (name, f) in facts where f.tail != nil {
            guard let n = name.segmentNumber(size: size) else { continue }
            let next = WALSegmentName(timeline: name.timeline, segment: n + 1, size: size)
            guard let nf = facts[next], let events = f.eventsCrossing(into: nf), !events.isEmpty else { continue }
            summaries[name] = summaries[name]?.adding(completions: WALFacts.completions(events), restorePoints: WALFacts.restorePoints(events))
        }
        let inventory = WALInventory(segmentSize: size, segments: segments, graph: TimelineGraph(histories: histories, damaged: damaged), summaries: summaries)
        return (inventory, facts)
    }

    package func call<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw TidemarkError.wrap(error, doing: "\(what) in '\(location)'")
        }
    }

    package func history(_ tl: TimelineID, key: String) async throws -> TimelineHistory {
        let plain: [UInt8]
        do {
            guard let bytes = try await store.get(key) else {
                throw TidemarkError(.io, "'\(location)/\(key)' disappeared while it was being read")
            }
            plain = try EnvelopeReader.decode(bytes, key: repository.key).plaintext
        } catch {
            throw TidemarkError.wrap(error, doing: "read timeline history '\(location)/\(key)'")
        }
        do {
            return try TimelineHistory(timeline: tl, parsing: plain)
        } catch {
            throw TidemarkError(.corrupt, "'\(location)/\(key)' is not a history file: \(error)")
        }
    }

    /// Summaries of `names`: batches of 32 ranged reads (one round each on a file system),
    /// `parallel` batches at a time; segments archived without WAL facts (by version 1) are
    /// simply absent.
    package func readFacts(_ names: [WALSegmentName], parallel: Int) async throws -> [WALSegmentName: WALSummaryFacts] {
        var out: [WALSegmentName: WALSummaryFacts] = [:]
        let batches = stride(from: 0, to: names.count, by: 32).map { Array(names[$0..<min($0 + 32, names.count)]) }
        try await withThrowingTaskGroup(of: [(WALSegmentName, WALSummaryFacts?)].self) { group in
            var next = 0
            func add() {
                guard next < batches.count else { return }
                let batch = batches[next]
                next += 1
                group.addTask { try await summaries(of: batch).map { ($0.0, $0.1?.wal) } }
            }
            for _ in 0..<parallel { add() }
            while let results = try await group.next() {
                for (name, facts) in results { if let facts { out[name] = facts } }
                add()
            }
        }
        return out
    }

    /// The summaries of a batch of segments: one ranged read of each object's first 4 KiB;
    /// an object whose summary is longer is read again whole-summary.
    package func summaries(of names: [WALSegmentName]) async throws -> [(WALSegmentName, WALSummary?)] {
        let keys = names.map { RepositoryLayout.wal(stanza, .segment($0)) }
        let heads = try await call("read WAL summaries") { try await store.get(keys, range: 0..<4096) }
        var out: [(WALSegmentName, WALSummary?)] = []
        for (i, name) in names.enumerated() {
            guard let head = heads[i] else { out.append((name, nil)); continue }
            if head.count >= EnvelopeHeader.size { seen.record(header: Array(head[0..<EnvelopeHeader.size]), of: keys[i]) }
            out.append((name, try await summary(of: name, key: keys[i], head: head)))
        }
        return out
    }

    /// The summary in `head`, the first bytes of the object at `key`; a summary longer than
    /// `head` costs one more ranged read of exactly the header and summary frame.
    package func summary(of name: WALSegmentName, key: String, head: [UInt8]) async throws -> WALSummary? {
        do {
            var decoder = EnvelopeDecoder(key: repository.key)
            decoder.feed(head)
            _ = try decoder.next()
            if decoder.summary == nil, let header = decoder.header, header.summaryFrameLength > 0 {
                let end = Int64(EnvelopeHeader.size + header.summaryFrameLength)
                guard let rest = try await store.get(key, range: Int64(head.count)..<end), !rest.isEmpty else {
                    throw EnvelopeError.truncated
                }
                decoder.feed(rest)
                _ = try decoder.next()
            }
            guard let bytes = decoder.summary else {
                if decoder.header == nil { throw EnvelopeError.truncated }
                return nil
            }
            return try checkedSummary(bytes, name: name, key: key)
        } catch {
            throw TidemarkError.wrap(error, doing: "read the summary of '\(location)/\(key)'")
        }
    }

    package func checkedSummary(_ bytes: [UInt8], name: WALSegmentName, key: String) throws -> WALSummary {
        guard let summary = try? JSONDecoder().decode(WALSummary.self, from: Data(bytes)), summary.name == name.description else {
            throw TidemarkError(.corrupt, "the summary of '\(location)/\(key)' does not describe \(name)",
                                hints: ["objects were renamed or swapped in the repository; do not use this copy"])
        }
        return summary
    }

    /// Facts from `tidemark reindex`'s index objects for `names` (those that have one).
    package func readIndex(_ names: [WALSegmentName]) async throws -> [WALSegmentName: WALSummaryFacts] {
        var out: [WALSegmentName: WALSummaryFacts] = [:]
        var listed: [String: Set<String>] = [:]
        for name in names {
            let key = RepositoryLayout.walIndex(stanza, name)
            let dir = String(key[..<(key.lastIndex(of: "/") ?? key.endIndex)]) + "/"
            if listed[dir] == nil {
                let listing = try await call("list the WAL index") { try await store.list(prefix: dir) }
                listed[dir] = Set(listing.objects.map(\.key))
            }
            guard listed[dir]?.contains(key) == true else { continue }
            do {
                guard let bytes = try await store.get(key) else { continue }
                let plain = try EnvelopeReader.decode(bytes, key: repository.key).plaintext
                let summary = try JSONDecoder().decode(WALSummary.self, from: Data(plain))
                guard summary.name == name.description else {
                    throw TidemarkError(.corrupt, "the index object '\(location)/\(key)' describes \(summary.name), not \(name)")
                }
                if let wal = summary.wal { out[name] = wal }
            } catch {
                throw TidemarkError.wrap(error, doing: "read the WAL index object '\(location)/\(key)'")
            }
        }
        return out
    }

    /// Every completion in a segment, from the segment itself (read, authenticated, scanned),
    /// including a record that starts in it and ends in the next one.
    package func completions(in name: WALSegmentName, facts: [WALSegmentName: WALSummaryFacts]) async throws -> [WALCompletion] {
        let scan = try await scan(name)
        var events = scan.events
        if let tail = scan.incompleteTail, let n = name.segmentNumber(size: size),
           let nf = facts[WALSegmentName(timeline: name.timeline, segment: n + 1, size: size)] {
            events += WALSummaryFacts.eventsCrossing(from: tail, into: nf) ?? []
        }
        return WALFacts.completions(events)
    }

    /// The segment read from the archive, authenticated and scanned.
    package func scan(_ name: WALSegmentName) async throws -> WALSegmentScan {
        let key = RepositoryLayout.wal(stanza, .segment(name))
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(size.rawValue))
        do {
            guard let reader = try await store.openReader(key) else {
                throw TidemarkError(.notFound, "WAL segment \(name) disappeared from '\(location)' while planning")
            }
            _ = try await decodeObject(reader, key: repository.key) { chunk in bytes += chunk }
        } catch {
            throw TidemarkError.wrap(error, doing: "read WAL segment '\(location)/\(key)'")
        }
        return WALSegmentScan.scan(bytes, name: name, size: size)
    }

    package init(repository: Repository, stanza: String, size: WALSegmentSize) {
        self.repository = repository
        self.stanza = stanza
        self.size = size
    }
}
