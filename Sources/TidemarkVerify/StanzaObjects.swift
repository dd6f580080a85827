import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage
import TidemarkSystem

/// What one stored key of a stanza is, by its name (docs/format.md, "Repository layout").
package enum StanzaObject: Hashable, Sendable {
    case stanzaInfo
    case catalogIndex
    case wal(WALFileName)
    /// A second, different `.partial` of the same name (`<segment>.partial-<sha16>`).
    case alternatePartial(WALSegmentName)
    case walIndex(WALSegmentName)
    case backup(BackupID, name: String)
    case pin(BackupID)
    case deletionMarker(BackupID)
    /// One entry of the audit log (`<stanza>/audit/<seq>`; `tidemark audit verify` checks the chain).
    case auditEntry(UInt64)
    /// File backups (TidemarkFiles, docs/format.md "File backups"): the stanza's files secret,
    /// a pack of chunks, a page of the chunk index, a snapshot.
    case filesConfig
    case filesPack(String)
    case filesIndex(String)
    case filesSnapshot(String)

    /// The envelope kind an object of this name must carry.
    package var expectedKind: ObjectKind {
        switch self {
        case .stanzaInfo: return .stanzaInfo
        case .catalogIndex: return .catalog
        case .wal(let f):
            switch f {
            case .segment: return .walSegment
            case .history: return .timelineHistory
            case .backupHistory: return .backupHistory
            case .partial: return .partialSegment
            }
        case .alternatePartial: return .partialSegment
        case .walIndex: return .walIndex
        case .backup(_, let name): return name.hasPrefix("pack-") ? .backupData : .catalog
        case .pin, .deletionMarker: return .generic
        case .auditEntry: return .auditEntry
        case .filesConfig: return .filesConfig
        case .filesPack: return .filesPack
        case .filesIndex: return .filesIndex
        case .filesSnapshot: return .filesSnapshot
        }
    }

    /// What the key names, or nil for keys that are not envelopes (the lock's leases, alert and
    /// reader records are plain JSON), verify's own ledger, and keys Tidemark does not write.
    package static func classify(_ key: String, stanza: String) -> StanzaObject? {
        guard key.hasPrefix(stanza + "/") else { return nil }
        let parts = key.dropFirst(stanza.utf8.count + 1).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch (parts.count, parts.first ?? "") {
        case (1, "stanza.info"): return .stanzaInfo
        case (1, "catalog.index"): return .catalogIndex
        case (3, "wal") where parts[1] == "history":
            guard let name = WALFileName(parts[2]), case .history = name else { return nil }
            return .wal(name)
        case (3, "wal"):
            if let name = WALFileName(parts[2]), name.segment?.directoryName == parts[1] { return .wal(name) }
            if let dash = parts[2].range(of: ".partial-"), let s = WALSegmentName(parts[2][..<dash.lowerBound]),
               s.directoryName == parts[1] { return .alternatePartial(s) }
            return nil
        case (3, "walindex"):
            guard parts[2].hasSuffix(".summary"), let s = WALSegmentName(parts[2].dropLast(8)) else { return nil }
            return .walIndex(s)
        case (3, "backup"):
            guard let id = BackupID(rawValue: parts[1]) else { return nil }
            return .backup(id, name: parts[2])
        case (2, "pins"):
            return BackupID(rawValue: parts[1]).map { .pin($0) }
        case (2, "deleting"):
            return BackupID(rawValue: parts[1]).map { .deletionMarker($0) }
        case (2, "audit"):
            guard parts[1].utf8.count == 16, parts[1].utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let seq = UInt64(parts[1]) else { return nil }
            return .auditEntry(seq)
        case (_, "files"):
            return classifyFiles(Array(parts.dropFirst()))
        default:
            return nil
        }
    }
}

extension StanzaObject {
    /// Keys below `<stanza>/files/` (FilesLayout): `config`, `packs/<hh>/<id>` (32 hex digits,
    /// `hh` its first two), `index/<id>` (32 hex digits), `snapshots/<id>`.
    static func classifyFiles(_ parts: [String]) -> StanzaObject? {
        func isID(_ s: String) -> Bool {
            s.utf8.count == 32 && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
        }
        switch (parts.count, parts.first ?? "") {
        case (1, "config"): return .filesConfig
        case (3, "packs") where isID(parts[2]) && parts[2].hasPrefix(parts[1]) && parts[1].utf8.count == 2: return .filesPack(parts[2])
        case (2, "index") where isID(parts[1]): return .filesIndex(parts[1])
        case (2, "snapshots") where !parts[1].isEmpty: return .filesSnapshot(parts[1])
        default: return nil
        }
    }
}

/// Every object below a stanza, listed level by level (sub-prefixes in parallel).
package enum StanzaListing {
    package static func list(_ store: any ObjectStore, stanza: String, parallel: Int = 16) async throws -> [ObjectInfo] {
        var out: [ObjectInfo] = []
        var pending = [stanza + "/"]
        while !pending.isEmpty {
            let level = pending
            pending = []
            let listings = try await boundedMap(level, width: parallel) { try await store.list(prefix: $0) }
            for listing in listings {
                out += listing.objects
                // Plain-JSON records and leases hold no envelope: not walked. Neither is the audit
                // log: it grows with every command (this one included), and `tidemark audit
                // verify` proves it whole (the chain, the mirror), which a per-object check cannot.
                pending += listing.prefixes.filter { !Self.skipped.contains(where: $0.hasSuffix) }
            }
        }
        return out.sorted { $0.key < $1.key }
    }

    static let skipped = ["/lock/", "/alerts/", "/readers/", "/audit/"]
}
