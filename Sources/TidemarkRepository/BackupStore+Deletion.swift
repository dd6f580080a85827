#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkStorage

/// The mark a backup carries while it is deleted (RepositoryLayout.deletionMarker).
public struct DeletionMarker: Codable, Sendable, Hashable {
    public var id: BackupID
    /// The command that deletes it (`expire`, `delete`).
    public var command: String
    /// ISO 8601, UTC.
    public var startedAt: String

    public init(id: BackupID, command: String, startedAt: String) {
        self.id = id
        self.command = command
        self.startedAt = startedAt
    }
}

/// What deleting one backup removed.
public struct DeletedObjects: Sendable, Hashable {
    public var objects: Int
    public var bytes: Int64
}

extension BackupStore {
    /// The objects of backup `id` (packs, blockmap, manifest, catalog), with their sizes.
    package func objects(of id: BackupID) async throws -> [ObjectInfo] {
        try await store.list(prefix: RepositoryLayout.backupDirectory(stanza, id)).objects
    }

    /// Backups whose deletion started and did not finish, with their authenticated markers.
    package func pendingDeletions() async throws -> [DeletionMarker] {
        var out: [DeletionMarker] = []
        let listing = try await store.list(prefix: RepositoryLayout.deletingPrefix(stanza))
        for object in listing.objects {
            guard let id = BackupID(rawValue: String(object.key.split(separator: "/").last ?? "")),
                  let bytes = try await store.get(object.key) else { continue }
            let marker: DeletionMarker
            do {
                let plain = try EnvelopeReader.decode(bytes, key: repository.key).plaintext
                marker = try JSONDecoder().decode(DeletionMarker.self, from: Data(plain))
            } catch {
                throw TidemarkError.wrap(error, doing: "read the deletion mark '\(store.location)/\(object.key)'")
            }
            guard marker.id == id else {
                throw TidemarkError(.corrupt, "the deletion mark '\(store.location)/\(object.key)' names backup '\(marker.id)': it was copied from another mark",
                                    hints: ["remove that object if backup '\(id)' is not being deleted"])
            }
            out.append(marker)
        }
        return out.sorted { $0.id < $1.id }
    }

    /// Marks `id` as being deleted: from now on it is not listed, planned or restored. Call
    /// while holding the stanza lock.
    package func markForDeletion(_ marker: DeletionMarker) async throws {
        let json = try JSONEncoder().encode(marker)
        let bytes = encodeEnvelope(Array(json), key: repository.key, kind: .generic, compression: .none).bytes
        _ = try await store.put(RepositoryLayout.deletionMarker(stanza, marker.id), bytes: bytes, ifAbsent: false)
    }

    /// Removes a marked backup: its data objects, then its catalog, then the directory, then
    /// the mark. Killed at any point, what is left is still marked (or gone), and running this
    /// again finishes it.
    package func finishDeletion(_ id: BackupID) async throws -> DeletedObjects {
        let catalog = RepositoryLayout.backupObject(stanza, id, "catalog")
        let objects = try await objects(of: id)
        let data = objects.filter { $0.key != catalog }
        try await store.deleteMany(data.map(\.key))
        try await store.delete(catalog)
        try await store.removeAll(prefix: RepositoryLayout.backupDirectory(stanza, id))
        try await store.delete(RepositoryLayout.deletionMarker(stanza, id))
        return DeletedObjects(objects: objects.count, bytes: objects.reduce(0) { $0 + $1.size })
    }
}
