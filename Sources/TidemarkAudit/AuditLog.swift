#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage
import TidemarkSystem

/// One repository's audit log for one stanza: `<stanza>/audit/<seq, 16 digits>`, one envelope
/// (kind `auditEntry`) per entry, each created with the store's conditional create so that
/// appenders in several processes make one chain (docs/audit.md).
public struct AuditLog: Sendable {
    public let repository: Repository
    public let stanza: String
    /// Conditional creates lost to other appenders before the newest entry is found by listing.
    public var conflictsBeforeListing = 4
    /// Conflicts after which an append gives up.
    public var maxConflicts = 200

    public init(repository: Repository, stanza: String) {
        self.repository = repository
        self.stanza = stanza
    }

    public static func prefix(_ stanza: String) -> String { "\(stanza)/audit/" }

    public static func key(_ stanza: String, seq: UInt64) -> String {
        let digits = String(seq)
        return prefix(stanza) + String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }

    /// The seq a key of `prefix(stanza)` names, or nil for any other name.
    public static func seq(ofKey key: String) -> UInt64? {
        let name = key.split(separator: "/").last ?? ""
        guard name.utf8.count == 16, name.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return UInt64(name).flatMap { $0 > 0 ? $0 : nil }
    }

    /// The newest entry as an appender sees it: its seq and the SHA-256 the next one links to.
    public struct Head: Sendable, Hashable {
        public var seq: UInt64
        public var sha256: String
        public init(seq: UInt64, sha256: String) {
            self.seq = seq
            self.sha256 = sha256
        }
        public static let empty = Head(seq: 0, sha256: AuditEntry.genesis)
    }

    /// Appends `event` at `time` after the newest entry; `hint` is the head this process last
    /// saw (the mirror's), which saves listing when it is still the newest. Returns the entry.
    public func append(_ event: AuditEvent, time: String, hint: Head? = nil) async throws -> AuditEntry {
        let store = repository.store
        var head: Head
        if let hint, let checked = try await headAt(hint.seq) {
            head = checked
        } else {
            head = try await newest()
        }
        var conflicts = 0
        while true {
            let entry = AuditEntry(seq: head.seq + 1, time: time, event: event, prev: head.sha256)
            let bytes = encodeEnvelope(entry.canonicalBytes(), key: repository.key, kind: .auditEntry, compression: .none).bytes
            let outcome: PutOutcome
            do {
                outcome = try await store.put(Self.key(stanza, seq: entry.seq), bytes: bytes, ifAbsent: true)
            } catch {
                throw TidemarkError.wrap(error, doing: "append audit entry \(entry.seq) in '\(store.location)'")
            }
            if outcome == .created { return entry }
            conflicts += 1
            guard conflicts < maxConflicts else {
                throw TidemarkError(.busy, "unable to append to the audit log of stanza '\(stanza)' in '\(store.location)': \(conflicts) other appends came first",
                                    hints: ["run the command again; `tidemark audit verify` checks the log"])
            }
            // Someone else wrote that seq: link to theirs, or (after a few) find the newest.
            if conflicts % conflictsBeforeListing == 0 {
                head = try await newest()
            } else if let next = try await headAt(entry.seq) {
                head = next
            } else {
                head = try await newest()
            }
        }
    }

    /// The head at `seq` (read and hashed), or nil when there is no such entry. An entry that
    /// does not decrypt is linked to by the SHA-256 of its stored bytes: the log goes on, and
    /// `audit verify` names the damaged one.
    func headAt(_ seq: UInt64) async throws -> Head? {
        guard seq > 0 else { return .empty }
        let bytes: [UInt8]?
        do {
            bytes = try await repository.store.get(Self.key(stanza, seq: seq))
        } catch {
            throw TidemarkError.wrap(error, doing: "read audit entry \(seq) in '\(repository.store.location)'")
        }
        guard let bytes else { return nil }
        let plain = try? EnvelopeReader.decode(bytes, key: repository.key).plaintext
        return Head(seq: seq, sha256: AuditEntry.sha256(of: plain ?? bytes))
    }

    /// The newest entry, found by listing (`.empty` for an empty log).
    func newest() async throws -> Head {
        let seqs = try await listSeqs()
        for seq in seqs.reversed() {
            if let head = try await headAt(seq) { return head }
        }
        return .empty
    }

    /// Every entry's seq, ascending (keys that name none are left out).
    public func listSeqs() async throws -> [UInt64] {
        try await listKeys().compactMap(\.seq)
    }

    /// Every key below the log's prefix, with the seq it names (nil for a foreign name).
    public func listKeys() async throws -> [(key: String, seq: UInt64?)] {
        let listing: ObjectListing
        do {
            listing = try await repository.store.list(prefix: Self.prefix(stanza))
        } catch {
            throw TidemarkError.wrap(error, doing: "list the audit log of stanza '\(stanza)' in '\(repository.store.location)'")
        }
        return listing.objects.map { ($0.key, Self.seq(ofKey: $0.key)) }
            .sorted { ($0.seq ?? 0, $0.key) < ($1.seq ?? 0, $1.key) }
    }

    /// What reading one stored entry found.
    public enum Read: Sendable, Hashable {
        /// Authenticated and decoded: the entry and the SHA-256 of its stored plaintext.
        case entry(AuditEntry, sha256: String)
        /// Did not authenticate or decode (why), or is not an audit entry.
        case unreadable(String)
        /// Listed, then gone.
        case vanished
    }

    /// Reads and authenticates the entry at `seq`.
    public func read(_ seq: UInt64) async throws -> Read {
        let key = Self.key(stanza, seq: seq)
        let bytes: [UInt8]?
        do {
            bytes = try await repository.store.get(key)
        } catch {
            throw TidemarkError.wrap(error, doing: "read audit entry \(seq) in '\(repository.store.location)'")
        }
        guard let bytes else { return .vanished }
        return Self.decode(bytes, key: repository.key)
    }

    static func decode(_ bytes: [UInt8], key: RepositoryKey) -> Read {
        let plain: [UInt8]
        do {
            let header = try EnvelopeHeader(parsing: Array(bytes.prefix(EnvelopeHeader.size)))
            guard header.kind == .auditEntry else { return .unreadable("it is not an audit entry (envelope kind \(header.kind))") }
            plain = try EnvelopeReader.decode(bytes, key: key).plaintext
        } catch {
            return .unreadable("it does not authenticate (altered, truncated or damaged): \(error)")
        }
        do {
            let entry = try JSONDecoder().decode(AuditEntry.self, from: Data(plain))
            return .entry(entry, sha256: AuditEntry.sha256(of: plain))
        } catch {
            return .unreadable("it authenticates but is no audit entry: \(error)")
        }
    }

    /// Every entry, read `parallel` at a time, by seq (and the keys that name no seq).
    public func readAll(parallel: Int = 16) async throws -> (entries: [(seq: UInt64, read: Read)], foreign: [String]) {
        let keys = try await listKeys()
        let seqs = keys.compactMap(\.seq)
        let reads = try await boundedMap(seqs, width: parallel) { seq in (seq, try await read(seq)) }
        return (reads.map { (seq: $0.0, read: $0.1) }, keys.filter { $0.seq == nil }.map(\.key))
    }
}
