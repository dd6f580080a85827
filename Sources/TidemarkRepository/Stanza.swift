#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem

/// The identity of the cluster a stanza belongs to, fixed by its first archived segment.
public struct StanzaInfo: Codable, Sendable, Equatable {
    public var name: String
    /// `pg_control`'s system identifier, as a decimal string (it does not fit JSON numbers).
    public var systemIdentifier: String
    public var walSegmentSize: UInt64
    public var postgresVersion: Int?
    public var created: String

    package init(name: String, systemIdentifier: String, walSegmentSize: UInt64, postgresVersion: Int? = nil, created: String) {
        self.name = name
        self.systemIdentifier = systemIdentifier
        self.walSegmentSize = walSegmentSize
        self.postgresVersion = postgresVersion
        self.created = created
    }
}

extension Repository {
    /// The stanza's identity, or nil when nothing has been archived for it yet. `preloaded`
    /// is its object (or its absence) when it was read already, with the repository config.
    public func stanzaInfo(_ stanza: String, preloaded: [UInt8]?? = nil) async throws -> StanzaInfo? {
        let key = RepositoryLayout.stanzaInfo(stanza)
        let bytes: [UInt8]?
        if let preloaded {
            bytes = preloaded
        } else {
            do {
                bytes = try await store.get(key)
            } catch {
                throw TidemarkError.wrap(error, doing: "read stanza '\(stanza)' in '\(store.location)'")
            }
        }
        guard let bytes else { return nil }
        do {
            let plain = try EnvelopeReader.decode(bytes, key: self.key).plaintext
            return try JSONDecoder().decode(StanzaInfo.self, from: Data(plain))
        } catch {
            throw TidemarkError.wrap(error, doing: "read stanza '\(stanza)' info '\(store.location)/\(key)'")
        }
    }

    /// Records the stanza's identity unless it is recorded already; returns what is recorded.
    ///
    /// An empty `created` is filled in with the current time when the stanza is created here
    /// (formatting a date costs half a millisecond, which wal-push need not pay on every segment).
    package func establishStanza(_ proposed: StanzaInfo, preloaded: [UInt8]?? = nil) async throws -> StanzaInfo {
        if let existing = try await stanzaInfo(proposed.name, preloaded: preloaded) { return existing }
        var proposed = proposed
        if proposed.created.isEmpty { proposed.created = Date().formatted(.iso8601) }
        let json = Array(try JSONEncoder().encode(proposed))
        let bytes = encodeEnvelope(json, key: key, kind: .stanzaInfo, compression: .none).bytes
        let outcome: PutOutcome
        do {
            outcome = try await store.put(RepositoryLayout.stanzaInfo(proposed.name), bytes: bytes, ifAbsent: true)
        } catch {
            throw TidemarkError.wrap(error, doing: "create stanza '\(proposed.name)' in '\(store.location)'")
        }
        if outcome == .created { return proposed }
        // Someone else created it first: theirs wins.
        guard let existing = try await stanzaInfo(proposed.name) else {
            throw TidemarkError(.io, "stanza '\(proposed.name)' in '\(store.location)' vanished while it was being created")
        }
        return existing
    }
}
