#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Crypto
import TidemarkArchive
import TidemarkCodec
import TidemarkCore
import TidemarkPolicy
import TidemarkRepository
import TidemarkStorage
import TidemarkSystem

/// Expire in one repository: what it reads, the plan it makes, and (ExpireRun+Execute) how it
/// carries it out.
public struct ExpireRun: Sendable {
    /// The repository's configured name.
    package let name: String
    package let repository: Repository
    package let stanza: String
    package let policy: RetentionPolicy
    package let now: Int64
    package let asOf: Int64?

    package init(name: String, repository: Repository, stanza: String, policy: RetentionPolicy, now: Int64, asOf: Int64?) {
        self.name = name
        self.repository = repository
        self.stanza = stanza
        self.policy = policy
        self.now = now
        self.asOf = asOf
    }

    package var store: any ObjectStore { repository.store }
    package var backups: BackupStore { BackupStore(repository: repository, stanza: stanza) }

    /// Everything the plan is made from, read once.
    package struct State: Sendable {
        package var summaries: [BackupFacts] = []
        package var pins: [BackupID: BackupPin] = [:]
        package var pending: [DeletionMarker] = []
        package var wal = ArchivedWAL()
        package var size: WALSegmentSize?
        package var graph = TimelineGraph(histories: [])
        package var lastCommit: [TimelineID: Int64] = [:]
        /// Restores in progress (ReaderPresence).
        package var readers: [ReaderRecord] = []
    }

    /// What retention needs of one backup's catalog.
    package struct BackupFacts: Sendable {
        package var id: BackupID
        package var type: BackupType
        package var parent: BackupID?
        package var stopTime: String
        package var endTime: Int64
        package var timeline: UInt32
        package var stopTimeline: UInt32
        package var startLSN: LSN
        package var stopLSN: LSN
        package var storedSize: Int64
    }

    /// The plan, with what the store refuses to delete yet.
    package struct Plan: Sendable {
        package var retention: RetentionPlan
        /// Objects of each backup to delete, by id.
        package var backupObjects: [String: [ObjectInfo]]
        /// WAL objects to delete, oldest segment first.
        package var walObjects: [ObjectInfo]
        package var locked: [ExpireLockedObject]
        package var hash: String
    }

    /// `writingIndex`: refresh the catalog index when stale (never in a dry run: it writes nothing).
    /// `summaries`: the caller's own read of the catalog index (`list`), so it is not read twice.
    package func read(writingIndex: Bool, summaries known: [CatalogSummary]? = nil) async throws -> State {
        var state = State()
        state.pending = try await backups.pendingDeletions()
        let pendingIDs = Set(state.pending.map(\.id))
        let summaries: [CatalogSummary]
        if let known { summaries = known } else { summaries = try await backups.summaries(writingIndex: writingIndex) }
        for c in summaries where !pendingIDs.contains(c.id) {
            guard let stop = try? PostgresTimestamp(parsing: c.stopTime) else {
                throw TidemarkError(.corrupt, "backup '\(c.id)' records a stop time '\(c.stopTime)' that is not a time",
                                    hints: ["expire orders backups by their end; check the catalog of '\(c.id)' (`tidemark list`)"])
            }
            state.summaries.append(BackupFacts(id: c.id, type: c.type, parent: c.parent, stopTime: c.stopTime,
                                               endTime: Int64(stop.unixSeconds.rounded(.down)), timeline: c.timeline,
                                               stopTimeline: c.stopTimeline, startLSN: c.startLSN, stopLSN: c.stopLSN,
                                               storedSize: c.storedSize))
        }
        state.pins = try await backups.pins()
        state.readers = try await backups.liveReaders(now: Date(timeIntervalSince1970: TimeInterval(now)))
        guard let info = try await repository.stanzaInfo(stanza) else { return state }
        guard let size = WALSegmentSize(rawValue: info.walSegmentSize) else {
            throw TidemarkError(.corrupt, "stanza '\(stanza)' records an impossible WAL segment size \(info.walSegmentSize)")
        }
        state.size = size
        do {
            state.wal = try await ArchivedWAL.list(repository, stanza: stanza, size: size)
        } catch {
            throw TidemarkError.wrap(error, doing: "list the WAL of stanza '\(stanza)' in '\(store.location)'")
        }
        let loader = WALInventoryLoader(repository: repository, stanza: stanza, size: size)
        var histories: [TimelineHistory] = []
        var damaged: [TimelineID: String] = [:]
        for (tl, key) in state.wal.historyKeys {
            do {
                histories.append(try await loader.history(tl, key: key))
            } catch let e as TidemarkError where e.code == .corrupt {
                damaged[tl] = e.message  // its timeline's WAL is then kept whole
            }
        }
        state.graph = TimelineGraph(histories: histories, damaged: damaged)
        state.lastCommit = try await loader.lastCommits(state.wal)
        return state
    }

    package func retentionInput(_ state: State, locked: [String: String] = [:]) -> RetentionInput {
        let backups = state.summaries.map { b in
            RetentionBackup(id: b.id.rawValue, type: b.type, parent: b.parent?.rawValue, endTime: b.endTime,
                            timeline: TimelineID(b.timeline), stopTimeline: TimelineID(b.stopTimeline), startLSN: b.startLSN,
                            stopLSN: b.stopLSN, pin: state.pins[b.id].map(\.reason), storedBytes: b.storedSize,
                            lockedUntil: locked[b.id.rawValue])
        }
        var input = RetentionInput(backups: backups, segments: state.wal.segmentBytes, graph: state.graph,
                                   segmentSize: state.size ?? .default, lastCommit: state.lastCommit, now: now, asOf: asOf)
        input.readers = state.readers.map {
            RetentionReader(backup: $0.backup.rawValue, timeline: TimelineID($0.timeline),
                            reason: "in use by \($0.command) pid \($0.pid) on \($0.host) until \($0.expiresAt)")
        }
        return input
    }

    /// The plan: retention, then the store's locks (a backup with a locked object is kept, with
    /// its chain; a locked WAL object is left), then the hash of what will be deleted.
    package func plan(_ state: State) async throws -> Plan {
        var retention = Retention.evaluate(policy, retentionInput(state))
        var objects: [String: [ObjectInfo]] = [:]
        var lockedBackups: [String: String] = [:]
        var locked: [ExpireLockedObject] = []
        for d in retention.deletedBackups {
            guard let id = BackupID(rawValue: d.id) else { continue }
            let list = try await backups.objects(of: id)
            objects[d.id] = list
            let until = try await retainUntil(list)
            if let latest = until.map(\.1).max() {
                lockedBackups[d.id] = Self.retainText(latest)
                locked += until.map { ExpireLockedObject(key: $0.0.key, retainUntil: Self.retainText($0.1)) }
            }
        }
        if !lockedBackups.isEmpty {
            retention = Retention.evaluate(policy, retentionInput(state, locked: lockedBackups))
            let deleted = Set(retention.deletedBackups.map(\.id))
            objects = objects.filter { deleted.contains($0.key) }
        }
        // WAL: every object of every deleted segment, oldest segment first (then by timeline).
        var wal: [(SegmentNumber, TimelineID, ObjectInfo)] = []
        for r in retention.deletedWAL {
            for n in r.first...r.last {
                for o in state.wal.objects[r.timeline]?[n] ?? [] { wal.append((n, r.timeline, o)) }
            }
        }
        wal.sort { ($0.0, $0.1, $0.2.key) < ($1.0, $1.1, $1.2.key) }
        let walLocks = try await retainUntil(wal.map(\.2))
        let lockedKeys = Set(walLocks.map(\.0.key))
        locked += walLocks.map { ExpireLockedObject(key: $0.0.key, retainUntil: Self.retainText($0.1)) }
        let walObjects = wal.map(\.2).filter { !lockedKeys.contains($0.key) }
        return Plan(retention: retention, backupObjects: objects, walObjects: walObjects, locked: locked,
                    hash: Self.hash(repository: name, retention, walObjects: walObjects, pending: state.pending))
    }

    /// A retain-until instant as the report shows it; `Int64.max` is a legal hold (no date).
    static func retainText(_ until: Int64) -> String {
        until == Int64.max ? "legal hold" : PostgresTimestamp(unixSeconds: until).iso8601
    }

    /// Objects of `list` the store will not delete before a future instant, with that instant.
    func retainUntil(_ list: [ObjectInfo]) async throws -> [(ObjectInfo, Int64)] {
        // Stores without a lock answer nil at once; S3 answers with one HEAD per object.
        var out: [(ObjectInfo, Int64)] = []
        try await withThrowingTaskGroup(of: (ObjectInfo, Int64?).self) { group in
            var next = 0
            func add() {
                guard next < list.count else { return }
                let o = list[next]
                next += 1
                group.addTask { (o, try await store.retainUntil(o.key)) }
            }
            for _ in 0..<16 { add() }
            while let (o, until) = try await group.next() {
                if let until, until > now { out.append((o, until)) }
                add()
            }
        }
        return out.sorted { $0.0.key < $1.0.key }
    }

    /// 16 hex digits of SHA-256 over what the plan deletes and keeps, in a fixed order.
    static func hash(repository: String, _ plan: RetentionPlan, walObjects: [ObjectInfo], pending: [DeletionMarker]) -> String {
        var text = "tidemark expire plan 1\nrepository \(repository)\n"
        for d in plan.decisions.sorted(by: { $0.id < $1.id }) { text += "\(d.keep ? "keep" : "delete") \(d.id)\n" }
        for p in pending { text += "resume \(p.id)\n" }
        for d in plan.decisions where d.keep { text += "why \(d.id) \(d.reasons.filter { $0.hasPrefix("in use by") }.joined(separator: ","))\n" }
        for o in walObjects.map(\.key).sorted() { text += "wal \(o)\n" }
        if let hold = plan.hold { text += "hold \(hold)\n" }
        return String(hexString(SHA256.hash(data: Array(text.utf8))).prefix(16))
    }
}
