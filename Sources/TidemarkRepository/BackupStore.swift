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
import TidemarkSystem

/// Backups of one stanza in one repository: listing, locking, cleaning up, taking.
public struct BackupStore: Sendable {
    public let repository: Repository
    public let stanza: String

    public init(repository: Repository, stanza: String) {
        self.repository = repository
        self.stanza = stanza
    }

    package var store: any ObjectStore { repository.store }

    /// Ids of every backup directory; `complete` when it has a catalog and no deletion marker
    /// (a marked backup is being deleted: not listed, planned or restored).
    package func backupDirectories() async throws -> [(BackupID, complete: Bool)] {
        try await backupDirectoryStates().map { ($0.0, $0.1 == .complete) }
    }

    package enum DirectoryState: Sendable, Equatable {
        case complete, incomplete, beingDeleted
    }

    /// Every backup directory and its state, oldest first.
    package func backupDirectoryStates() async throws -> [(BackupID, DirectoryState)] {
        let listing = try await store.list(prefix: RepositoryLayout.backupPrefix(stanza))
        let marked = try await markedBackups()
        var out: [(BackupID, DirectoryState)] = []
        for prefix in listing.prefixes {
            guard let id = BackupID(rawValue: String(prefix.dropLast().split(separator: "/").last ?? "")) else { continue }
            if marked.contains(id) {
                out.append((id, .beingDeleted))
                continue
            }
            // An empty catalog is a clean-up's claim (removeIncomplete), never a catalog.
            let size = try await store.size(RepositoryLayout.backupObject(stanza, id, "catalog"))
            out.append((id, (size ?? 0) > 0 ? .complete : .incomplete))
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
        guard let catalog = try await catalogIfPresent(id) else {
            throw TidemarkError(.notFound, "backup '\(id)' does not exist in stanza '\(stanza)' of '\(store.location)'",
                                hints: ["`tidemark list` shows the backups"])
        }
        return catalog
    }

    /// The catalog of backup `id`, authenticated, or nil when it has none (yet, or any more).
    package func catalogIfPresent(_ id: BackupID) async throws -> BackupCatalog? {
        try await catalogAndSaltIfPresent(id)?.0
    }

    /// The catalog and its object's envelope salt (hex), or nil when it has none.
    package func catalogAndSaltIfPresent(_ id: BackupID) async throws -> (BackupCatalog, String)? {
        let key = RepositoryLayout.backupObject(stanza, id, "catalog")
        guard let bytes = try await store.get(key), !bytes.isEmpty else { return nil }  // empty: removeIncomplete's claim
        let salt = bytes.count >= EnvelopeHeader.size ? (try? EnvelopeHeader(parsing: Array(bytes[0..<EnvelopeHeader.size]))).map { hexString($0.salt) } : nil
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
        return (catalog, salt ?? "")
    }

    package func readObject(_ id: BackupID, _ name: String) async throws -> [UInt8] {
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
    /// A backup being deleted is left to its deleter (expire or delete finishes it).
    ///
    /// The race this guards against: "holding the lock" is a lease, and a writer whose lease
    /// lapsed (a suspended process, a stalled repository) may still be between its last lease
    /// check (`Lease.confirm`) and its catalog write while the next holder cleans up. Listing
    /// the directory as incomplete and then deleting its prefix would then delete a backup
    /// committed in between (its writer reports success for a backup that is gone), or leave
    /// its catalog without its packs. So the clean-up first *claims the commit point*: it
    /// creates an empty object under the catalog's key, create-if-absent (S3: `If-None-Match:
    /// *`), exactly as the writer commits. Whoever creates it first wins: a writer that comes
    /// later fails its commit (the key exists) and reports the failure; a catalog that came
    /// first is read back (stores that only check, then write) and its backup kept whole.
    /// Only then are the data objects deleted, the claim last. An empty catalog is never a
    /// catalog (`backupDirectoryStates`, `catalogIfPresent`), so a clean-up killed half-way is
    /// finished by the next one. What remains is a writer stalled past its lease margin, the
    /// next holder's takeover and this whole clean-up, that then commits: a catalog without
    /// packs, which `verify` reports; no store offers a write conditional on another object.
    package func removeIncomplete() async throws -> [BackupID] {
        var removed: [BackupID] = []
        for (id, state) in try await backupDirectoryStates() where state == .incomplete {
            let catalog = RepositoryLayout.backupObject(stanza, id, "catalog")
            _ = try await store.put(catalog, bytes: [], ifAbsent: true)
            // Created now, or left by an interrupted clean-up: empty. Anything else is a catalog
            // its writer committed after the listing: that backup is complete.
            guard try await store.size(catalog) == 0 else { continue }
            let data = try await objects(of: id).filter { $0.key != catalog }
            try await store.deleteMany(data.map(\.key))
            try await store.delete(catalog)
            try await store.removeAll(prefix: RepositoryLayout.backupDirectory(stanza, id))
            removed.append(id)
        }
        return removed
    }

    /// The stanza's lock in this repository (RepositoryLock), with leases of `duration` seconds.
    package func lock(duration: Double) -> RepositoryLock {
        RepositoryLock(store: store, stanza: stanza, duration: duration)
    }
}
