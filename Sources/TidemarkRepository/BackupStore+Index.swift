#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem

/// What `list` and retention need from a backup's catalog, without its file entries.
public struct CatalogSummary: Codable, Sendable, Hashable {
    public var id: BackupID
    public var type: BackupType
    public var parent: BackupID?
    public var label: String
    /// ISO 8601 with zone, as in the catalog.
    public var startTime: String
    public var stopTime: String
    public var startLSN: LSN
    public var stopLSN: LSN
    public var timeline: UInt32
    public var stopTimeline: UInt32
    public var postgresVersion: Int
    public var systemIdentifier: String
    public var walSegmentSize: UInt64
    /// Sum of the sizes of all files.
    public var databaseSize: Int64
    /// Bytes stored by this backup (its own packs and metadata), after compression.
    public var storedSize: Int64
    public var durationSeconds: Double
    /// The catalog object's envelope salt (random per object, hex): a read compares it with the
    /// stored catalog's header, so a catalog replaced by another backup's is noticed (and then
    /// read, and refused) without reading every catalog.
    public var catalogSalt: String?

    public init(_ c: BackupCatalog) {
        id = c.id
        type = c.type
        parent = c.parent
        label = c.label
        startTime = c.startTime
        stopTime = c.stopTime
        startLSN = c.startLSN
        stopLSN = c.stopLSN
        timeline = c.timeline
        stopTimeline = c.stopTimeline
        postgresVersion = c.postgresVersion
        systemIdentifier = c.systemIdentifier
        walSegmentSize = c.walSegmentSize
        databaseSize = c.databaseSize
        storedSize = c.storedSize
        durationSeconds = c.durationSeconds
    }
}

/// The JSON inside `<stanza>/catalog.index` (docs/format.md).
struct CatalogIndex: Codable {
    static let currentFormat = 1
    var formatVersion: Int
    var stanza: String
    var backups: [CatalogSummary]
}

extension BackupStore {
    /// A summary of every complete backup of the stanza, oldest first (by id, like `catalogs()`),
    /// read through the stanza's catalog index.
    ///
    /// The index is a cache; the listing of `backup/` is the truth. An index that is missing,
    /// fails to authenticate or decode, or names another stanza is rebuilt from the catalogs.
    /// A listed backup the index lacks is read from its catalog (authenticated) and added when
    /// it has one (one being written or deleted meanwhile is skipped, not an error); an indexed backup whose directory is gone is dropped; a backup with a
    /// deletion marker (`deleting/<id>`) is never returned and dropped from the index. When
    /// anything changed and `writingIndex` is true the index is replaced atomically, best
    /// effort: a write that fails (read-only credentials, a full disk) does not fail the read.
    /// `expire --dry-run` passes false, since it must leave the repository byte-identical.
    /// Errors reading the listing or a catalog are thrown as `catalogs()` throws them.
    public func summaries(writingIndex: Bool = true) async throws -> [CatalogSummary] {
        do {
            let stored = try await readIndex()
            let listing = try await store.list(prefix: RepositoryLayout.backupPrefix(stanza))
            let listed = Set(listing.prefixes.compactMap { BackupID(rawValue: String($0.dropLast().split(separator: "/").last ?? "")) })
            let marked = try await markedBackups()
            var byID = stored ?? [:]
            var changed = stored == nil
            for id in byID.keys where !listed.contains(id) || marked.contains(id) {
                byID.removeValue(forKey: id)
                changed = true
            }
            // An indexed catalog whose object is no longer the one indexed is read again.
            for id in try await replacedCatalogs(byID) {
                byID.removeValue(forKey: id)
                changed = true
            }
            let missing = listed.subtracting(byID.keys).subtracting(marked).sorted()
            for (catalog, salt) in try await catalogsIfPresent(missing) {
                var summary = CatalogSummary(catalog)
                summary.catalogSalt = salt
                byID[catalog.id] = summary
                changed = true
            }
            let summaries = byID.values.sorted { $0.id < $1.id }
            // No index for a stanza without backups: `list --stanza typo` must not create one.
            if stored == nil && summaries.isEmpty { changed = false }
            if changed && writingIndex { await writeIndex(summaries) }
            return summaries
        } catch {
            throw TidemarkError.wrap(error, doing: "list the backups of stanza '\(stanza)' in '\(store.location)'")
        }
    }

    /// Ids of the backups with a deletion marker.
    package func markedBackups() async throws -> Set<BackupID> {
        let listing = try await store.list(prefix: RepositoryLayout.deletingPrefix(stanza))
        return Set(listing.objects.compactMap { BackupID(rawValue: String($0.key.split(separator: "/").last ?? "")) })
    }

    /// The index's summaries by id, or nil when it is missing or unusable (not authentic, not
    /// decodable, another format, another stanza's). Errors reading the store are thrown.
    func readIndex() async throws -> [BackupID: CatalogSummary]? {
        guard let bytes = try await store.get(RepositoryLayout.catalogIndex(stanza)) else { return nil }
        guard let plain = try? EnvelopeReader.decode(bytes, key: repository.key).plaintext,
              let index = try? JSONDecoder().decode(CatalogIndex.self, from: Data(plain)),
              index.formatVersion == CatalogIndex.currentFormat, index.stanza == stanza
        else { return nil }
        var out: [BackupID: CatalogSummary] = [:]
        for summary in index.backups { out[summary.id] = summary }
        return out
    }

    /// Replaces the index; a failure is ignored (the next read rebuilds what it lacks).
    func writeIndex(_ summaries: [CatalogSummary]) async {
        let index = CatalogIndex(formatVersion: CatalogIndex.currentFormat, stanza: stanza, backups: summaries)
        guard let json = try? JSONEncoder().encode(index) else { return }
        let encoded = encodeEnvelope(Array(json), key: repository.key, kind: .catalog, compression: .zstd).bytes
        _ = try? await store.put(RepositoryLayout.catalogIndex(stanza), bytes: encoded, ifAbsent: false)
    }

    /// Ids of indexed backups whose catalog object is not the one the index was made from (its
    /// header salt differs, or the index recorded none): one 80-byte ranged read per backup, in
    /// batches.
    func replacedCatalogs(_ indexed: [BackupID: CatalogSummary]) async throws -> [BackupID] {
        let ids = indexed.keys.sorted()
        var out: [BackupID] = []
        for start in stride(from: 0, to: ids.count, by: 128) {
            let batch = Array(ids[start..<min(start + 128, ids.count)])
            let heads = try await store.get(batch.map { RepositoryLayout.backupObject(stanza, $0, "catalog") }, range: 0..<Int64(EnvelopeHeader.size))
            for (i, id) in batch.enumerated() {
                guard let head = heads[i], head.count == EnvelopeHeader.size, let header = try? EnvelopeHeader(parsing: head),
                      let recorded = indexed[id]?.catalogSalt, hexString(header.salt) == recorded else {
                    out.append(id)
                    continue
                }
            }
        }
        return out
    }

    /// The catalogs of `ids` that have one, with their envelope salts, read up to 8 at a time,
    /// in the order of `ids`.
    func catalogsIfPresent(_ ids: [BackupID]) async throws -> [(BackupCatalog, String)] {
        try await withThrowingTaskGroup(of: (Int, (BackupCatalog, String)?).self) { group in
            var found: [(Int, (BackupCatalog, String))] = []
            var next = 0
            func add() {
                let (i, id) = (next, ids[next])
                next += 1
                group.addTask { (i, try await catalogAndSaltIfPresent(id)) }
            }
            while next < min(8, ids.count) { add() }
            while let (i, catalog) = try await group.next() {
                if let catalog { found.append((i, catalog)) }
                if next < ids.count { add() }
            }
            return found.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}
