#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkStorage

/// A restore in progress (`<stanza>/readers/<holder>`, plain JSON like the lock's lease: who,
/// which backup, which timeline, until when). `expire` and `delete` keep the backup it names
/// and the WAL from that backup's start along its timeline while the record is live: the
/// restore's copy and the recovery that follows (PostgreSQL fetching WAL) are not pulled out
/// from under it. The record covers the restore and, after it, `recoveryHoldSeconds` for the
/// recovery; it ends by itself.
public struct ReaderRecord: Codable, Sendable, Equatable {
    public var format = "tidemark-reader"
    public var holder: String
    public var command: String
    public var host: String
    public var pid: Int32
    public var backup: BackupID
    /// The timeline recovery follows.
    public var timeline: UInt32
    public var startedAt: String
    public var expiresAt: String
    public var expiresAtMillis: Int64
}

/// Registers, renews and removes one reader record.
public struct ReaderPresence: Sendable {
    public let store: any ObjectStore
    public let stanza: String
    public let record: ReaderRecord
    /// How long a restored server's recovery stays protected after the restore (24 hours).
    public static let recoveryHoldSeconds: Double = 86_400

    var key: String { RepositoryLayout.reader(stanza, holder: record.holder) }

    /// Writes a record for `backup` that lasts `seconds` from `now`.
    public static func register(store: any ObjectStore, stanza: String, command: String, backup: BackupID, timeline: UInt32,
                                now: Date, seconds: Double) async throws -> ReaderPresence {
        var bytes = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = rng.next() }
        let identity = HostIdentity.current()
        let record = ReaderRecord(holder: hexString(bytes), command: command, host: identity.host, pid: identity.pid,
                                  backup: backup, timeline: timeline, startedAt: RepositoryLock.text(now),
                                  expiresAt: RepositoryLock.text(now + seconds), expiresAtMillis: RepositoryLock.millis(now + seconds))
        let presence = ReaderPresence(store: store, stanza: stanza, record: record)
        try await presence.write(record)
        return presence
    }

    /// Moves the record's end to `seconds` from `now`.
    public func extend(now: Date, seconds: Double) async throws {
        var r = record
        r.expiresAt = RepositoryLock.text(now + seconds)
        r.expiresAtMillis = RepositoryLock.millis(now + seconds)
        try await write(r)
    }

    public func remove() async {
        try? await store.delete(key)
    }

    func write(_ r: ReaderRecord) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        _ = try await store.put(key, bytes: Array(try encoder.encode(r)) + [10], ifAbsent: false)
    }
}

extension BackupStore {
    /// Keys of reader records that ended before `now` (expire removes them).
    package func endedReaders(now: Date) async throws -> [String] {
        let nowMillis = RepositoryLock.millis(now)
        var out: [String] = []
        for object in try await store.list(prefix: RepositoryLayout.readerPrefix(stanza)).objects {
            guard let bytes = try await store.get(object.key) else { continue }
            if let record = try? JSONDecoder().decode(ReaderRecord.self, from: Data(bytes)), record.format == "tidemark-reader",
               record.expiresAtMillis > nowMillis { continue }
            out.append(object.key)
        }
        return out
    }

    /// Reader records whose end lies after `now`.
    package func liveReaders(now: Date) async throws -> [ReaderRecord] {
        var out: [ReaderRecord] = []
        let nowMillis = RepositoryLock.millis(now)
        for object in try await store.list(prefix: RepositoryLayout.readerPrefix(stanza)).objects {
            guard let bytes = try await store.get(object.key),
                  let record = try? JSONDecoder().decode(ReaderRecord.self, from: Data(bytes)),
                  record.format == "tidemark-reader", record.expiresAtMillis > nowMillis else { continue }
            out.append(record)
        }
        return out.sorted { $0.holder < $1.holder }
    }
}

extension RepositoryLayout {
    /// `<stanza>/readers/<holder>`: a restore in progress (`ReaderRecord`, plain JSON).
    public static func readerPrefix(_ stanza: String) -> String { "\(stanza)/readers/" }

    public static func reader(_ stanza: String, holder: String) -> String { readerPrefix(stanza) + holder }
}
