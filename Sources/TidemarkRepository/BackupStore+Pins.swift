#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkStorage

/// A hold on one backup (`tidemark pin`): expire and delete never remove it.
public struct BackupPin: Codable, Sendable, Hashable {
    public var id: BackupID
    public var reason: String
    /// ISO 8601, UTC.
    public var pinnedAt: String
    /// `user@host`.
    public var by: String

    public init(id: BackupID, reason: String, pinnedAt: String, by: String) {
        self.id = id
        self.reason = reason
        self.pinnedAt = pinnedAt
        self.by = by
    }
}

extension BackupStore {
    /// Every pin of the stanza, authenticated; a pin that fails authentication or names
    /// another backup is an error (a hold must never be lost silently).
    package func pins() async throws -> [BackupID: BackupPin] {
        var out: [BackupID: BackupPin] = [:]
        do {
            let listing = try await store.list(prefix: RepositoryLayout.pinPrefix(stanza))
            for object in listing.objects {
                guard let id = BackupID(rawValue: String(object.key.split(separator: "/").last ?? "")) else { continue }
                guard let pin = try await readPin(id) else { continue }
                out[id] = pin
            }
        } catch {
            throw TidemarkError.wrap(error, doing: "read the pins of stanza '\(stanza)' in '\(store.location)'")
        }
        return out
    }

    package func readPin(_ id: BackupID) async throws -> BackupPin? {
        let key = RepositoryLayout.pin(stanza, id)
        guard let bytes = try await store.get(key) else { return nil }
        let pin: BackupPin
        do {
            let plain = try EnvelopeReader.decode(bytes, key: repository.key).plaintext
            pin = try JSONDecoder().decode(BackupPin.self, from: Data(plain))
        } catch {
            throw TidemarkError.wrap(error, doing: "read the pin of backup '\(id)' ('\(store.location)/\(key)')")
        }
        guard pin.id == id else {
            throw TidemarkError(.corrupt, "the pin '\(store.location)/\(key)' names backup '\(pin.id)': it was copied from another pin",
                                hints: ["run `tidemark pin \(id)` again to replace it"])
        }
        return pin
    }

    /// Writes (or replaces) the pin of `pin.id`. Call while holding the stanza lock.
    package func writePin(_ pin: BackupPin) async throws {
        let json = try JSONEncoder().encode(pin)
        let bytes = encodeEnvelope(Array(json), key: repository.key, kind: .generic, compression: .none).bytes
        _ = try await store.put(RepositoryLayout.pin(stanza, pin.id), bytes: bytes, ifAbsent: false)
    }

    package func removePin(_ id: BackupID) async throws {
        try await store.delete(RepositoryLayout.pin(stanza, id))
    }
}
