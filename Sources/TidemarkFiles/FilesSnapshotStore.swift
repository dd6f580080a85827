import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage

/// The snapshots of one stanza in one repository: `<stanza>/files/snapshots/<id>`, each an
/// authenticated envelope of kind `filesSnapshot` under the repository's key.
public struct FilesSnapshotStore: Sendable {
    public let store: any ObjectStore
    public let key: RepositoryKey
    public let stanza: String

    public init(store: any ObjectStore, key: RepositoryKey, stanza: String) {
        self.store = store
        self.key = key
        self.stanza = stanza
    }

    /// Writes the snapshot (create-only). Call after the chunk sink's `flush()`: the snapshot
    /// must never name a chunk that is not durable.
    public func write(_ snapshot: FilesSnapshot) async throws {
        let key = FilesLayout.snapshot(stanza, snapshot.id)
        let bytes = encodeEnvelope(snapshot.encoded(), key: self.key, kind: .filesSnapshot, compression: .zstd).bytes
        do {
            let outcome = try await store.put(key, bytes: bytes, ifAbsent: true)
            if case .alreadyExists = outcome {
                throw TidemarkError(.conflict, "unable to write file snapshot '\(snapshot.id)' to \(store.location): it exists already")
            }
        } catch {
            throw TidemarkError.wrap(error, doing: "write file snapshot '\(key)' to \(store.location)")
        }
    }

    /// The snapshot `id`; nil when it does not exist. Throws `corrupt` when it does not
    /// authenticate, is not a snapshot or does not decode.
    public func read(_ id: String) async throws -> FilesSnapshot? {
        guard FilesSnapshot.isValidID(id) else {
            throw TidemarkError(.invalidInput, "'\(id)' is not a file snapshot id",
                                hints: ["ids are 32 hex digits; 'tidemark files list' shows them"])
        }
        let key = FilesLayout.snapshot(stanza, id)
        let bytes: [UInt8]?
        do { bytes = try await store.get(key) } catch { throw TidemarkError.wrap(error, doing: "read file snapshot '\(key)' from \(store.location)") }
        guard let bytes else { return nil }
        let plain: [UInt8]
        do {
            let header = try EnvelopeHeader(parsing: Array(bytes.prefix(EnvelopeHeader.size)))
            guard header.kind == .filesSnapshot else {
                throw TidemarkError(.corrupt, "unable to read file snapshot '\(key)' from \(store.location): it is not a file snapshot (envelope kind \(header.kind))")
            }
            plain = try EnvelopeReader.decode(bytes, key: self.key).plaintext
        } catch {
            throw TidemarkError.wrap(error, doing: "read file snapshot '\(key)' from \(store.location)")
        }
        let snapshot = try FilesSnapshot.decode(plain, what: "file snapshot '\(key)' in \(store.location)")
        guard snapshot.id == id else {
            throw TidemarkError(.corrupt, "unable to read file snapshot '\(key)' from \(store.location): it holds snapshot '\(snapshot.id)'",
                                hints: ["the object was renamed or copied; run 'tidemark verify'"])
        }
        return snapshot
    }

    /// The ids of every snapshot (unsorted; names that are not ids are ignored).
    public func listIDs() async throws -> [String] {
        let prefix = FilesLayout.snapshotPrefix(stanza)
        do {
            let listing = try await store.list(prefix: prefix)
            return listing.objects.map { String($0.key.dropFirst(prefix.count)) }.filter(FilesSnapshot.isValidID)
        } catch {
            throw TidemarkError.wrap(error, doing: "list file snapshots in \(store.location)")
        }
    }

    /// Every snapshot, oldest first.
    public func readAll() async throws -> [FilesSnapshot] {
        var out: [FilesSnapshot] = []
        for id in try await listIDs() {
            if let s = try await read(id) { out.append(s) }
        }
        return out.sorted { ($0.time, $0.id) < ($1.time, $1.id) }
    }
}

extension FilesSnapshot {
    /// A fresh random id.
    public static func newID() -> String { hexString(randomBytes(16)) }

    /// The newest of `snapshots` taken at or before `time` (nanoseconds since the epoch); nil
    /// when every one is newer.
    public static func newest(of snapshots: [FilesSnapshot], atOrBefore time: Int64) -> FilesSnapshot? {
        snapshots.filter { $0.time <= time }.max { ($0.time, $0.id) < ($1.time, $1.id) }
    }
}
