#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkArchive
import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage

/// Reads one object in full, streamed (one read and one chunk in memory): every frame
/// authenticated and decompressed, the trailer checked, and what the name promises checked
/// against what the bytes say — the envelope kind; for a WAL segment its summary's name, its
/// long page header (the stanza's system identifier and segment size, its timeline, the page
/// address its name implies); for a catalog the backup it describes.
package struct ObjectCheck: Sendable {
    package let repository: Repository
    package let stanza: String
    package let identity: StanzaInfo?

    package init(repository: Repository, stanza: String, identity: StanzaInfo?) {
        self.repository = repository
        self.stanza = stanza
        self.identity = identity
    }

    /// What a good object yields for the ledger and the checks after it.
    package struct Outcome: Sendable {
        package var salt: String
        package var lastCompletion: PostgresTimestamp?
        package var history: TimelineHistory?
        package var catalog: BackupCatalog?
        package var bytesRead: Int64
    }

    package enum Result: Sendable {
        case good(Outcome)
        /// Listed, then gone before it was read (expire removed it): not a problem.
        case vanished
        case bad(VerifyProblem)
    }

    /// Reads `key` in full. With `authenticateOnly` (an object the ledger proved, re-read by the
    /// sample) every frame is authenticated but not decoded: bit rot anywhere in it fails a GCM
    /// tag, and while its authenticated bytes are unchanged what they decode to — proven when
    /// it was first read — cannot change.
    package func check(_ key: String, as object: StanzaObject, authenticateOnly: Bool = false) async -> Result {
        let location = repository.store.location
        let reader: (any ObjectReader)?
        do {
            reader = try await repository.store.openReader(key)
        } catch {
            return .bad(VerifyProblem(.unreadable, object: key, "'\(location)/\(key)' cannot be read: \(error)",
                                      hint: "fix the storage, then run verify again"))
        }
        guard let reader else { return .vanished }
        var header: EnvelopeHeader?
        var summary: [UInt8]?
        var firstBytes: [UInt8] = []
        var kept: [UInt8] = []
        var bytesRead: Int64 = 0
        let keepsPlaintext: Bool
        let wantsPageHeader: Bool
        switch object {
        case .wal(.history), .backup(_, name: "catalog"): keepsPlaintext = !authenticateOnly
        default: keepsPlaintext = false
        }
        if case .wal(.segment) = object, !authenticateOnly { wantsPageHeader = true } else { wantsPageHeader = false }
        do {
            let trailer = try await decodeObject(reader, key: repository.key, authenticateOnly: authenticateOnly, inspect: { decoder in
                if header == nil, let h = decoder.header { header = h }
                if summary == nil, let s = decoder.summary { summary = s }
            }) { chunk in
                if keepsPlaintext { kept += chunk }
                if wantsPageHeader && firstBytes.count < WALLongPageHeader.size {
                    firstBytes += chunk.prefix(WALLongPageHeader.size - firstBytes.count)
                }
            }
            bytesRead = Int64(trailer.length)
        } catch {
            return .bad(VerifyProblem(.damaged, object: key, "'\(location)/\(key)' is damaged: \(error)",
                                      hint: Self.damageHint(object)))
        }
        guard let header else {
            return .bad(VerifyProblem(.damaged, object: key, "'\(location)/\(key)' has no envelope header", hint: Self.damageHint(object)))
        }
        guard header.kind == object.expectedKind else {
            return .bad(VerifyProblem(.misplaced, object: key,
                                      "'\(location)/\(key)' holds a \(header.kind) object where a \(object.expectedKind) belongs: it was moved or copied here",
                                      hint: Self.damageHint(object)))
        }
        var outcome = Outcome(salt: hexString(header.salt), bytesRead: bytesRead)
        if authenticateOnly { return .good(outcome) }
        switch object {
        case .wal(.segment(let name)):
            if let problem = checkSegment(name, key: key, summary: summary, firstBytes: firstBytes, length: bytesRead, outcome: &outcome) {
                return .bad(problem)
            }
        case .wal(.history(let timeline)):
            do {
                outcome.history = try TimelineHistory(timeline: timeline, parsing: kept)
            } catch {
                return .bad(VerifyProblem(.damaged, object: key, "'\(location)/\(key)' authenticates but is not a timeline history: \(error)",
                                          hint: Self.damageHint(object)))
            }
        case .backup(let id, name: "catalog"):
            guard let catalog = try? JSONDecoder().decode(BackupCatalog.self, from: Data(kept)) else {
                return .bad(VerifyProblem(.damaged, object: key, "the catalog '\(location)/\(key)' authenticates but does not decode",
                                          hint: Self.damageHint(object)))
            }
            guard catalog.id == id else {
                return .bad(VerifyProblem(.misplaced, object: key, "the catalog '\(location)/\(key)' describes backup '\(catalog.id)': it was copied from another backup",
                                          hint: Self.damageHint(object)))
            }
            outcome.catalog = catalog
        default:
            break
        }
        return .good(outcome)
    }

    /// The summary names this file and the long page header agrees with the name and the stanza.
    private func checkSegment(_ name: WALSegmentName, key: String, summary: [UInt8]?, firstBytes: [UInt8], length: Int64,
                              outcome: inout Outcome) -> VerifyProblem? {
        let location = repository.store.location
        let hint = Self.damageHint(.wal(.segment(name)))
        if let summary, let decoded = try? JSONDecoder().decode(WALSummary.self, from: Data(summary)) {
            guard decoded.name == name.description else {
                return VerifyProblem(.misplaced, object: key, "'\(location)/\(key)' holds WAL file \(decoded.name), not \(name): it was renamed into place", hint: hint)
            }
            outcome.lastCompletion = decoded.wal?.summary.last?.time
        }
        let header: WALLongPageHeader
        do {
            header = try WALLongPageHeader.validate(segment: firstBytes, count: Int(length), named: name)
        } catch {
            return VerifyProblem(.foreign, object: key, "'\(location)/\(key)' is not segment \(name) of this cluster: \(error)", hint: hint)
        }
        if let identity {
            guard String(header.systemIdentifier) == identity.systemIdentifier else {
                return VerifyProblem(.foreign, object: key,
                                     "'\(location)/\(key)' comes from another cluster: system identifier \(header.systemIdentifier), the stanza's is \(identity.systemIdentifier)",
                                     hint: hint)
            }
            guard UInt64(header.segmentSize) == identity.walSegmentSize else {
                return VerifyProblem(.foreign, object: key, "'\(location)/\(key)' has wal_segment_size \(header.segmentSize), the stanza's is \(identity.walSegmentSize)", hint: hint)
            }
        }
        return nil
    }

    /// What to do about a bad object of this kind.
    package static func damageHint(_ object: StanzaObject) -> String {
        switch object {
        case .wal(.segment(let s)):
            return "fetch \(s) from another repository (`tidemark verify --repair`) or from pg_wal on the server; until then recovery stops before it"
        case .wal(let f):
            return "fetch \(f) from another repository (`tidemark verify --repair`) or archive it again from the server"
        case .alternatePartial, .walIndex:
            return "move it aside; `tidemark reindex` rebuilds WAL indexes, and a .partial is needed only to recover that timeline's very end"
        case .backup(let id, _):
            return "do not restore backup \(id): take a new full backup (`tidemark backup --type full`) to restart the chain, or repair it from another repository (`tidemark verify --repair`)"
        case .catalogIndex:
            return "remove it: `tidemark list` rebuilds the index from the catalogs"
        case .stanzaInfo:
            return "restore it from another repository copy; wal-push refuses to archive until it reads"
        case .pin(let id):
            return "run `tidemark pin \(id)` again to replace it"
        case .deletionMarker:
            return "run `tidemark expire` to finish the deletion it marks"
        case .auditEntry(let seq):
            return "the audit log's entry \(seq) was altered or damaged: keep it for investigation; `tidemark audit verify` checks the whole chain"
        case .filesConfig:
            return "the stanza's files secret: restore it from another repository (`tidemark verify --repair`); without it no file backup here can be read"
        case .filesPack, .filesIndex:
            return "file backups read the chunks it holds from another repository of the stanza if one has them; the next `tidemark files backup --type full` stores them again"
        case .filesSnapshot(let id):
            return "do not restore file snapshot \(id): repair it from another repository (`tidemark verify --repair`) or take a new file backup"
        }
    }
}
