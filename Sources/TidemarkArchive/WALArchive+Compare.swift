import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage
import TidemarkSystem

/// A push that finds its object stored already (PostgreSQL retrying after a crash, or two
/// writers): the archived copy is read whole, authenticated, and its checksum compared with
/// the file's, in the kind the copy carries (XXH3-128 for objects written since it, SHA-256
/// before). Only a conflict pays for SHA-256 of both copies, which its message names.
extension WALArchive {
    /// Something is stored under `key` already: same content → success, else a conflict.
    package func compareExisting(key: String, prepared: PreparedWALFile, summary: WALSummary,
                                 segmentSize: WALSegmentSize?) async throws -> PushOutcome {
        let name = prepared.name
        let existing = try await readArchived(key: key, name: name, sha256: false).trailer
        if existing.digestKind != .none, existing.digest == (await prepared.digest(existing.digestKind)) {
            return .alreadyArchived
        }
        let local = await prepared.sha256()
        var archived = existing.sha256 ?? []
        if existing.sha256 == nil { archived = try await readArchived(key: key, name: name, sha256: true).sha256 }
        if archived == local { return .alreadyArchived }
        if case .partial(let segment) = name {
            // Two recoveries that branched off the same segment each archive a .partial of it.
            // Recovery never reads .partial files; keep both rather than block archiving.
            let alt = RepositoryLayout.alternatePartial(stanza, segment, sha256Hex: hexString(local))
            if try await objectExists(alt) { return .storedAlongside(key: alt) }
            _ = try await write(prepared, key: alt) { await withFacts(summary, prepared: prepared, segmentSize: segmentSize) }
            return .storedAlongside(key: alt)
        }
        throw TidemarkError(.conflict,
                            "'\(name)' is already archived in '\(location)' with different content: archived SHA-256 \(hexString(archived)), this file's SHA-256 \(hexString(local))",
                            hints: ["two servers are archiving the same timeline: a split brain, or a standby promoted without a new timeline, or two clusters sharing stanza '\(stanza)'",
                                    "nothing was overwritten; stop the second writer, then compare both copies before deciding which history to keep"])
    }

    /// Reads the archived copy at `key` whole (authenticating it, and checking the checksum it
    /// carries); with `sha256`, also the SHA-256 of its plaintext.
    private func readArchived(key: String, name: WALFileName, sha256: Bool) async throws -> (trailer: EnvelopeTrailer, sha256: [UInt8]) {
        var hasher = ContentHasher()
        let trailer: EnvelopeTrailer
        do {
            guard let reader = try await store.openReader(key) else {
                throw TidemarkError(.io, "'\(location)/\(key)' disappeared while it was being compared")
            }
            trailer = try await decodeStream(reader) { chunk in if sha256 { hasher.update(chunk) } }
        } catch let e as TidemarkError {
            throw e
        } catch let e as EnvelopeError {
            if !e.isDamage { throw TidemarkError.wrap(e, doing: "compare with the archived '\(name)'") }
            throw TidemarkError(.corrupt, "the archived copy of '\(name)' at '\(location)/\(key)' is damaged (\(e)); the file in pg_wal is intact",
                                hints: ["move the damaged object aside (mv '\(location)/\(key)' '\(location)/\(key).damaged'); PostgreSQL will archive the segment again on its next retry"])
        } catch {
            throw TidemarkError.wrap(error, doing: "compare with the archived '\(name)'")
        }
        return (trailer, sha256 ? hasher.finalize() : [])
    }
}
