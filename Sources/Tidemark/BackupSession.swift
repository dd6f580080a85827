#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkStorage

/// What a base-backup stream delivers, in order (PostgresReplication adapts BASE_BACKUP to it;
/// tests feed it directly).
public enum BackupInput: Sendable, Equatable {
    case started(startLSN: LSN, timeline: TimelineID)
    case tablespaces([CatalogTablespace])
    /// A new archive: the main data directory (nil) or a tablespace (its OID).
    case archive(tablespace: UInt32?)
    case directory(path: String, mode: UInt32)
    case symlink(path: String, target: String)
    case fileStarted(path: String, size: Int64, mode: UInt32, modified: Int64)
    case fileData([UInt8])
    case fileEnded
    case manifest([UInt8])
    case finished(stopLSN: LSN, timeline: TimelineID)
}

/// A pull source of `BackupInput`; nil at the end.
public protocol BackupInputSource {
    mutating func next() async throws -> BackupInput?
}

/// Facts about the server taken before the stream starts.
public struct ServerFacts: Sendable {
    public var systemIdentifier: String
    public var postgresVersion: Int
    public var walSegmentSize: UInt64
    public var blockSize: Int
    public init(systemIdentifier: String, postgresVersion: Int, walSegmentSize: UInt64, blockSize: Int) {
        self.systemIdentifier = systemIdentifier
        self.postgresVersion = postgresVersion
        self.walSegmentSize = walSegmentSize
        self.blockSize = blockSize
    }
}

/// Backups of one stanza in one repository: listing, locking, cleaning up, taking.
public struct BackupStore: Sendable {
    public let repository: Repository
    public let stanza: String

    public init(repository: Repository, stanza: String) {
        self.repository = repository
        self.stanza = stanza
    }

    var store: any ObjectStore { repository.store }

    /// Ids of every backup directory, complete or not.
    func backupDirectories() async throws -> [(BackupID, complete: Bool)] {
        let listing = try await store.list(prefix: RepositoryLayout.backupPrefix(stanza))
        var out: [(BackupID, Bool)] = []
        for prefix in listing.prefixes {
            guard let id = BackupID(rawValue: String(prefix.dropLast().split(separator: "/").last ?? "")) else { continue }
            let complete = try await store.size(RepositoryLayout.backupObject(stanza, id, "catalog")) != nil
            out.append((id, complete))
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// Every complete backup's catalog, oldest first.
    public func catalogs() async throws -> [BackupCatalog] {
        var out: [BackupCatalog] = []
        do {
            for (id, complete) in try await backupDirectories() where complete {
                out.append(try await catalog(id))
            }
        } catch {
            throw TidemarkError.wrap(error, doing: "list the backups of stanza '\(stanza)' in '\(store.location)'")
        }
        return out
    }

    public func catalog(_ id: BackupID) async throws -> BackupCatalog {
        let key = RepositoryLayout.backupObject(stanza, id, "catalog")
        guard let bytes = try await store.get(key) else {
            throw TidemarkError(.notFound, "backup '\(id)' does not exist in stanza '\(stanza)' of '\(store.location)'",
                                hints: ["`tidemark list` shows the backups"])
        }
        let catalog: BackupCatalog
        do {
            let plain = try EnvelopeReader.decode(bytes, key: repository.key).plaintext
            catalog = try JSONDecoder().decode(BackupCatalog.self, from: Data(plain))
        } catch {
            throw TidemarkError.wrap(error, doing: "read the catalog of backup '\(id)'")
        }
        // Every catalog authenticates under the same key, so one copied over another's would
        // otherwise pass as a second copy of the other backup.
        guard catalog.id == id else {
            throw TidemarkError(.corrupt, "the catalog of backup '\(id)' ('\(store.location)/\(key)') describes backup '\(catalog.id)': it was copied from another backup",
                                hints: ["restore '\(key)' from another copy of the repository; do not use backup '\(id)' until then"])
        }
        return catalog
    }

    func readObject(_ id: BackupID, _ name: String) async throws -> [UInt8] {
        let key = RepositoryLayout.backupObject(stanza, id, name)
        guard let bytes = try await store.get(key) else {
            throw TidemarkError(.corrupt, "backup '\(id)' lacks its '\(name)' object ('\(store.location)/\(key)')")
        }
        do {
            return try EnvelopeReader.decode(bytes, key: repository.key).plaintext
        } catch {
            throw TidemarkError.wrap(error, doing: "read '\(store.location)/\(key)'")
        }
    }

    /// Removes backups that never finished (no catalog). Call only while holding the lock.
    func removeIncomplete() async throws -> [BackupID] {
        var removed: [BackupID] = []
        for (id, complete) in try await backupDirectories() where !complete {
            try await store.removeAll(prefix: RepositoryLayout.backupDirectory(stanza, id))
            removed.append(id)
        }
        return removed
    }

    /// The stanza's lock in this repository (RepositoryLock), with leases of `duration` seconds.
    func lock(duration: Double) -> RepositoryLock {
        RepositoryLock(store: store, stanza: stanza, duration: duration)
    }
}

extension BackupStore {
    /// Loads what an incremental needs from its parent: the parent's pack table and a map from
    /// block hash to where that block is stored.
    func knownBlocks(of parent: BackupCatalog) async throws -> [BlockHash: BlockLocation] {
        let map = try await readObject(parent.id, "blockmap")
        var known: [BlockHash: BlockLocation] = [:]
        var cursor = 0
        let bs = Int64(parent.blockSize)
        for entry in parent.entries where entry.kind == .file {
            let blocks = (entry.size + bs - 1) / bs
            guard cursor + Int(blocks) * 16 <= map.count else {
                throw TidemarkError(.corrupt, "block map of backup '\(parent.id)' is shorter than its catalog")
            }
            for extent in entry.extents ?? [] where extent.pack >= 0 {
                for i in 0..<extent.count {
                    let at = cursor + Int(extent.firstBlock + i) * 16
                    let hash = map.withUnsafeBytes { raw in
                        BlockHash(high: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)),
                                  low: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self)))
                    }
                    known[hash] = BlockLocation(pack: extent.pack, offset: extent.offset + i * bs)
                }
            }
            cursor += Int(blocks) * 16
        }
        return known
    }
}
