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

/// A plan and where it came from.
public struct PlanReport: Sendable {
    public var plan: RecoveryPlan
    /// The repository the plan reads from.
    public var repository: String
    public var catalog: BackupCatalog
    public var segmentsInArchive: Int
    public var summariesRead: Int
    /// Segments read in full to find the exact stop record.
    public var segmentsScanned: Int
    public var seconds: Double
    /// Set when the plan came from a repository other than the first (the ones before it could
    /// not be used): recovery must read only from it, because a repository that cannot answer
    /// makes wal-fetch stop recovery (it cannot confirm a file is absent), and this one was
    /// proved to hold every file recovery needs.
    public var readsOnlyFrom: String?
}

/// The archive of one stanza in one repository, as the planner sees it.
struct WALInventoryLoader {
    let repository: Repository
    let stanza: String
    let size: WALSegmentSize
    /// What `load` saw of each segment object (stored size, envelope header), so proving the
    /// plan's segments whole (`checkWhole`) needs only their tails.
    let seen = SeenObjects()
    var store: any ObjectStore { repository.store }
    var location: String { store.location }

    /// Lists segments and history files, reads every history and every segment's summary
    /// (one ranged read each, `parallel` at a time).
    func load(parallel: Int = 16) async throws -> (WALInventory, facts: [WALSegmentName: WALSummaryFacts]) {
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

    func call<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw TidemarkError.wrap(error, doing: "\(what) in '\(location)'")
        }
    }

    func history(_ tl: TimelineID, key: String) async throws -> TimelineHistory {
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
    func readFacts(_ names: [WALSegmentName], parallel: Int) async throws -> [WALSegmentName: WALSummaryFacts] {
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
    func summaries(of names: [WALSegmentName]) async throws -> [(WALSegmentName, WALSummary?)] {
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
    func summary(of name: WALSegmentName, key: String, head: [UInt8]) async throws -> WALSummary? {
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

    func checkedSummary(_ bytes: [UInt8], name: WALSegmentName, key: String) throws -> WALSummary {
        guard let summary = try? JSONDecoder().decode(WALSummary.self, from: Data(bytes)), summary.name == name.description else {
            throw TidemarkError(.corrupt, "the summary of '\(location)/\(key)' does not describe \(name)",
                                hints: ["objects were renamed or swapped in the repository; do not use this copy"])
        }
        return summary
    }

    /// Facts from `tidemark reindex`'s index objects for `names` (those that have one).
    func readIndex(_ names: [WALSegmentName]) async throws -> [WALSegmentName: WALSummaryFacts] {
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
    func completions(in name: WALSegmentName, facts: [WALSegmentName: WALSummaryFacts]) async throws -> [WALCompletion] {
        let scan = try await scan(name)
        var events = scan.events
        if let tail = scan.incompleteTail, let n = name.segmentNumber(size: size),
           let nf = facts[WALSegmentName(timeline: name.timeline, segment: n + 1, size: size)] {
            events += WALSummaryFacts.eventsCrossing(from: tail, into: nf) ?? []
        }
        return WALFacts.completions(events)
    }

    /// The segment read from the archive, authenticated and scanned.
    func scan(_ name: WALSegmentName) async throws -> WALSegmentScan {
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
}

extension Engine {
    /// `tidemark plan`: the recovery plan for `request`, proven against the archive, from the
    /// first repository that can answer. A repository that cannot be opened or read, or holds
    /// no backups, is passed over (`report` says so); an unreachable target is final when it
    /// comes from a repository that holds backups.
    public static func plan(_ configuration: Configuration, request: PlanRequest,
                            report: @escaping @Sendable (String) -> Void = { _ in }) async throws -> PlanReport {
        var sequence = PlanSequence(configuration: configuration, request: request, report: report)
        guard let (plan, _) = try await sequence.next() else {
            throw TidemarkError(.notFound, "no repository holds backups of stanza '\(configuration.stanza)'")
        }
        return plan
    }

    /// The plan from one repository.
    static func plan(in repo: Repository, named name: String, configuration: Configuration, request: PlanRequest) async throws -> PlanReport? {
        let started = ContinuousClock.now
        let backups = BackupStore(repository: repo, stanza: configuration.stanza)
        let catalogs = try await backups.catalogs()
        guard let info = try await repo.stanzaInfo(configuration.stanza), !catalogs.isEmpty else { return nil }
        guard let size = WALSegmentSize(rawValue: info.walSegmentSize) else {
            throw TidemarkError(.corrupt, "stanza '\(configuration.stanza)' records an impossible WAL segment size \(info.walSegmentSize)")
        }
        let loader = WALInventoryLoader(repository: repo, stanza: configuration.stanza, size: size)
        var (inventory, facts) = try await loader.load()
        let planner = catalogs.map(plannerBackup)
        var scanned = 0
        while true {
            switch RecoveryPlanner(backups: planner, inventory: inventory).plan(request) {
            case .plan(let plan):
                guard let catalog = catalogs.first(where: { $0.id.rawValue == plan.backup.id }) else {
                    throw TidemarkError(.corrupt, "the planner chose backup \(plan.backup.id), which has no catalog")
                }
                // The summaries say what each segment holds, not that it is whole.
                try await loader.checkWhole(plan.segments)
                let elapsed = ContinuousClock.now - started
                return PlanReport(plan: plan, repository: name, catalog: catalog,
                                  segmentsInArchive: inventory.segments.values.reduce(0) { $0 + $1.count },
                                  summariesRead: facts.count, segmentsScanned: scanned,
                                  seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            case .needsDetail(let names):
                for name in names {
                    inventory.details[name] = try await loader.completions(in: name, facts: facts)
                    scanned += 1
                }
            case .unreachable(let u):
                var error = TidemarkError(u.reason == .historyDamaged ? .corrupt : .unreachable, "target not reachable: " + u.message,
                                          hints: u.alternatives.map { "reachable instead: " + $0 })
                error.unreachable = u
                throw error
            }
        }
    }

    static func plannerBackup(_ c: BackupCatalog) -> PlannerBackup {
        PlannerBackup(id: c.id.rawValue, timeline: TimelineID(c.timeline), startLSN: c.startLSN, stopLSN: c.stopLSN,
                      startTime: try? PostgresTimestamp(parsing: c.startTime), stopTime: try? PostgresTimestamp(parsing: c.stopTime))
    }
}

/// Plans from the configured repositories in order, passing over those that cannot answer.
struct PlanSequence {
    let configuration: Configuration
    let request: PlanRequest
    let report: @Sendable (String) -> Void
    var index = 0
    var lastError: TidemarkError?

    init(configuration: Configuration, request: PlanRequest, report: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.request = request
        self.report = report
    }

    /// The next repository's plan with the repository itself, or nil when none is left
    /// (`lastError` then says why the last one failed).
    mutating func next() async throws -> (PlanReport, Repository)? {
        let specs = configuration.repositories
        while index < specs.count {
            let spec = specs[index]
            index += 1
            let more = index < specs.count ? "; trying '\(specs[index].name)'" : ""
            do {
                let passphrase = try configuration.requireKey()
                let repo = try await Engine.open(spec, configuration: configuration, passphrase: passphrase)
                guard let plan = try await Engine.plan(in: repo, named: spec.name, configuration: configuration, request: request) else {
                    lastError = TidemarkError(.notFound, "stanza '\(configuration.stanza)' has no backups in repository '\(spec.name)'",
                                              hints: ["take one: tidemark backup"])
                    if !more.isEmpty { report("tidemark: repository '\(spec.name)' holds no backups of stanza '\(configuration.stanza)'\(more)") }
                    continue
                }
                var found = plan
                if spec.name != specs.first?.name { found.readsOnlyFrom = spec.name }
                return (found, repo)
            } catch let e as TidemarkError where e.code == .unreachable || e.code == .configuration || e.code == .wrongKey {
                throw e
            } catch {
                let e = TidemarkError.wrap(error, doing: "plan from repository '\(spec.name)'")
                lastError = e
                if more.isEmpty { throw e }
                report("tidemark: repository '\(spec.name)' cannot be used (\(e.message))\(more)")
            }
        }
        if let lastError { throw lastError }
        return nil
    }
}
