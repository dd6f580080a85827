import TidemarkCore
import TidemarkRepository
import TidemarkStorage

extension VerifyRun.Scan {
    /// Backups with a deletion marker: being deleted, not verified.
    package var markedBackups: Set<BackupID> {
        Set(listed.values.compactMap { entry -> BackupID? in
            if case .deletionMarker(let id) = entry.object { return id }
            return nil
        })
    }
}

extension VerifyRun {
    /// Every complete backup (catalog present, no deletion marker): from the catalog index
    /// when it reads, else from each catalog that authenticates (the others are reported by
    /// their object check).
    package func completeBackups(_ scan: Scan) async -> [CatalogSummary] {
        let store = BackupStore(repository: repository, stanza: stanza)
        if let summaries = try? await store.summaries(writingIndex: false) { return summaries }
        var out: [CatalogSummary] = []
        let ids = Set(scan.listed.values.compactMap { entry -> BackupID? in
            if case .backup(let id, name: "catalog") = entry.object { return id }
            return nil
        }).subtracting(scan.markedBackups)
        for id in ids.sorted() {
            if let (catalog, _) = try? await store.catalogAndSaltIfPresent(id) { out.append(CatalogSummary(catalog)) }
        }
        return out
    }

    /// The keys this run's scope covers.
    package func scopeKeys(_ scan: Scan, backups: [CatalogSummary]) -> [String] {
        let marked = scan.markedBackups
        func isWAL(_ o: StanzaObject) -> Bool {
            switch o {
            case .wal, .alternatePartial, .walIndex, .stanzaInfo: return true
            default: return false
            }
        }
        let keys = scan.listed.keys.sorted()
        switch options.scope {
        case .all:
            return keys.filter { key in
                if case .backup(let id, _) = scan.listed[key]?.object, marked.contains(id) { return false }
                return true
            }
        case .wal:
            return keys.filter { scan.listed[$0].map { isWAL($0.object) } ?? false }
        case .backup(let id):
            let chain = Self.chain(of: [id], in: backups)
            let wal = walRange(of: backups.filter { $0.id == id })
            return keys.filter { key in
                guard let o = scan.listed[key]?.object else { return false }
                switch o {
                case .backup(let b, _): return chain.contains(b)
                case .wal(.history), .stanzaInfo: return true
                case .wal(.segment(let s)): return wal(s)
                default: return false
                }
            }
        case .since(let instant):
            let recent = backups.filter { (try? PostgresTimestamp(parsing: $0.stopTime)).map { $0 >= instant } ?? true }
            let chain = Self.chain(of: recent.map(\.id), in: backups)
            let oldest = recent.map(\.startLSN).min()
            let size = scan.identity.flatMap { WALSegmentSize(rawValue: $0.walSegmentSize) }
            return keys.filter { key in
                guard let o = scan.listed[key]?.object else { return false }
                switch o {
                case .backup(let b, _): return chain.contains(b)
                case .wal(.segment(let s)), .wal(.partial(let s)), .wal(.backupHistory(let s, _)):
                    guard let oldest, let size, let start = s.startLSN(size: size) else { return oldest == nil ? false : true }
                    return start.rawValue + size.rawValue > oldest.rawValue
                case .wal(.history), .stanzaInfo: return true
                default: return false
                }
            }
        }
    }

    /// The WAL a backup needs to become consistent (its start to its stop segment) that is not
    /// archived, or is damaged, on its timeline (or its stop timeline, for a backup taken
    /// across a promotion); nil when it is all there.
    package func missingWAL(of b: CatalogSummary, _ scan: Scan) -> String? {
        guard let size = WALSegmentSize(rawValue: b.walSegmentSize) else { return nil }
        let first = b.startLSN.rawValue / size.rawValue
        let last = b.stopLSN.rawValue / size.rawValue
        var missing: [WALSegmentName] = []
        for n in first...max(first, last) {
            let candidates = Set([b.timeline, b.stopTimeline]).map { WALSegmentName(timeline: TimelineID($0), segment: n, size: size) }
            let present = candidates.contains { name in
                let key = RepositoryLayout.wal(stanza, .segment(name))
                guard scan.listed[key] != nil else { return false }
                if case .bad = scan.results[key] { return false }
                return true
            }
            if !present, let name = candidates.first { missing.append(name) }
        }
        guard let low = missing.first, let high = missing.last else { return nil }
        return missing.count == 1 ? "the WAL segment \(low) it needs to become consistent is missing or damaged"
            : "\(missing.count) WAL segments it needs to become consistent (\(low) … \(high)) are missing or damaged"
    }

    /// `ids` and every backup they depend on.
    package static func chain(of ids: [BackupID], in backups: [CatalogSummary]) -> Set<BackupID> {
        let byID = Dictionary(backups.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var out = Set<BackupID>()
        var pending = ids
        while let id = pending.popLast() {
            guard out.insert(id).inserted else { continue }
            if let parent = byID[id]?.parent { pending.append(parent) }
        }
        return out
    }

    /// Whether a segment lies in the start..stop range of one of `backups`.
    package func walRange(of backups: [CatalogSummary]) -> (WALSegmentName) -> Bool {
        let ranges = backups.compactMap { b -> (UInt32, UInt32, UInt64, UInt64)? in
            guard let size = WALSegmentSize(rawValue: b.walSegmentSize) else { return nil }
            return (b.timeline, b.stopTimeline, b.startLSN.rawValue / size.rawValue, b.stopLSN.rawValue / size.rawValue)
        }
        let size = backups.first.flatMap { WALSegmentSize(rawValue: $0.walSegmentSize) }
        return { s in
            guard let size, let n = s.segmentNumber(size: size) else { return false }
            return ranges.contains { ($0.0 == s.timeline.rawValue || $0.1 == s.timeline.rawValue) && (UInt64($0.2)...UInt64($0.3)).contains(n) }
        }
    }

    /// Every backup in scope: its catalog authenticates and names it, its parent is there,
    /// its block map is there, and every pack it uses is stored, authenticates and has the
    /// size its catalog recorded.
    package func checkBackups(_ scan: inout Scan, backups: [CatalogSummary], into report: inout VerifyRepositoryReport) {
        let ids = Set(backups.map(\.id))
        let inScope: [CatalogSummary]
        switch options.scope {
        case .wal: return
        case .all: inScope = backups
        case .backup(let id): inScope = backups.filter { Self.chain(of: [id], in: backups).contains($0.id) }
        case .since:
            inScope = backups.filter { scan.inScope.contains(RepositoryLayout.backupObject(stanza, $0.id, "catalog")) }
        }
        for b in inScope {
            report.backupsChecked += 1
            let catalogKey = RepositoryLayout.backupObject(stanza, b.id, "catalog")
            var why: [String] = []
            if let parent = b.parent, !ids.contains(parent) {
                why.append("its parent \(parent) is missing")
            }
            let blockmap = RepositoryLayout.backupObject(stanza, b.id, "blockmap")
            if scan.listed[blockmap] == nil { why.append("its block map '\(blockmap)' is missing") }
            if case .bad = scan.results[catalogKey] { why.append("its catalog is damaged") }
            for (key, result) in scan.results {
                guard case .bad = result, case .backup(let owner, let name) = scan.listed[key]?.object ?? .catalogIndex,
                      owner == b.id, name != "catalog" else { continue }
                why.append("its object '\(key)' is damaged")
            }
            for ref in scan.ledger.entries[catalogKey]?.refs ?? [] {
                let parts = ref.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, let size = Int64(parts[1]) else { continue }
                let key = parts[0]
                guard let listed = scan.listed[key] else {
                    why.append("pack '\(key)' is missing")
                    continue
                }
                if listed.info.size != size {
                    why.append("pack '\(key)' is \(listed.info.size) bytes, the catalog recorded \(size)")
                } else if case .bad = scan.results[key], !key.hasPrefix(RepositoryLayout.backupDirectory(stanza, b.id)) {
                    why.append("pack '\(key)' of its parent is damaged")
                }
            }
            if let missing = missingWAL(of: b, scan) { why.append(missing) }
            guard !why.isEmpty else { continue }
            report.problems.append(VerifyProblem(.backup, object: b.id.rawValue,
                                                 "backup \(b.id) cannot be restored: " + why.joined(separator: "; "),
                                                 hint: ObjectCheck.damageHint(.backup(b.id, name: "catalog"))))
        }
    }
}
