#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkPolicy
import TidemarkRepository
import TidemarkStorage

/// What `tidemark verify` has proven about a stanza's objects (`<stanza>/verify.ledger`, an
/// envelope of kind 9, so it is authenticated like every other object): per object its stored
/// size, the salt of its envelope header, when it was last read in full, and what verify
/// needs again without reading it (a segment's last commit time, the packs a catalog uses).
///
/// A cache of proofs, never the truth of what exists: a run lists the store, and an object
/// the ledger holds with another size or salt is read again. A ledger that is missing or fails
/// to authenticate is rebuilt (the run then reads everything); `verify --full` rebuilds it too.
///
/// Text, one object per line, so ten thousand segments decode in milliseconds:
/// `key TAB size TAB salt-hex TAB verified-unix-seconds TAB last-completion TAB refs`, where
/// last-completion is a PostgreSQL timestamp (µs since 2000-01-01) or `-`, and refs are the
/// keys of the packs a catalog references, comma-separated, or `-`.
package struct VerifyLedger: Sendable, Equatable {
    package struct Entry: Sendable, Equatable {
        package var size: Int64
        package var salt: String
        package var verifiedAt: Int64
        package var lastCompletion: PostgresTimestamp?
        package var refs: [String]

        package init(size: Int64, salt: String, verifiedAt: Int64, lastCompletion: PostgresTimestamp? = nil, refs: [String] = []) {
            self.size = size
            self.salt = salt
            self.verifiedAt = verifiedAt
            self.lastCompletion = lastCompletion
            self.refs = refs
        }
    }

    package static let magic = "tidemark-verify-ledger 1"

    package var stanza: String
    /// Runs so far: picks the sample bucket (`VerifySelection`).
    package var run: Int
    package var entries: [String: Entry]

    package init(stanza: String, run: Int = 0, entries: [String: Entry] = [:]) {
        self.stanza = stanza
        self.run = run
        self.entries = entries
    }

    package var known: [String: VerifySelection.Known] {
        entries.mapValues { VerifySelection.Known(size: $0.size, salt: $0.salt) }
    }

    package func encoded() -> [UInt8] {
        var out = "\(Self.magic)\nstanza\t\(stanza)\nrun\t\(run)\n"
        for key in entries.keys.sorted() {
            guard let e = entries[key] else { continue }
            let last = e.lastCompletion.map { String($0.rawValue) } ?? "-"
            let refs = e.refs.isEmpty ? "-" : e.refs.joined(separator: ",")
            out += "\(key)\t\(e.size)\t\(e.salt)\t\(e.verifiedAt)\t\(last)\t\(refs)\n"
        }
        return Array(out.utf8)
    }

    /// Parses a ledger; nil when it is not one (the caller rebuilds it).
    package static func decode(_ bytes: [UInt8], stanza: String) -> VerifyLedger? {
        let lines = bytes.split(separator: 10, omittingEmptySubsequences: true)
        guard lines.count >= 3, String(decoding: lines[0], as: UTF8.self) == magic else { return nil }
        let stanzaLine = String(decoding: lines[1], as: UTF8.self).split(separator: "\t", omittingEmptySubsequences: false)
        let runLine = String(decoding: lines[2], as: UTF8.self).split(separator: "\t", omittingEmptySubsequences: false)
        // A ledger copied from another stanza authenticates under the same key: refuse it.
        guard stanzaLine.count == 2, stanzaLine[0] == "stanza", stanzaLine[1] == stanza,
              runLine.count == 2, runLine[0] == "run", let run = Int(runLine[1]) else { return nil }
        var entries: [String: Entry] = [:]
        entries.reserveCapacity(lines.count)
        for line in lines.dropFirst(3) {
            let f = String(decoding: line, as: UTF8.self).split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count == 6, let size = Int64(f[1]), let at = Int64(f[3]) else { return nil }
            let last: PostgresTimestamp?
            if f[4] == "-" {
                last = nil
            } else if let raw = Int64(f[4]) {
                last = PostgresTimestamp(rawValue: raw)
            } else {
                return nil
            }
            let refs = f[5] == "-" ? [] : f[5].split(separator: ",").map(String.init)
            entries[String(f[0])] = Entry(size: size, salt: String(f[2]), verifiedAt: at, lastCompletion: last, refs: refs)
        }
        return VerifyLedger(stanza: stanza, run: run, entries: entries)
    }
}

extension VerifyLedger {
    /// The stanza's ledger: nil when there is none; `.damaged` when it does not authenticate
    /// or decode (reported, then rebuilt).
    package enum Loaded: Sendable {
        case missing
        case damaged(String)
        case ledger(VerifyLedger)
    }

    package static func load(_ repository: Repository, stanza: String) async throws -> Loaded {
        let key = RepositoryLayout.verifyLedger(stanza)
        let bytes: [UInt8]?
        do {
            bytes = try await repository.store.get(key)
        } catch {
            throw TidemarkError.wrap(error, doing: "read '\(repository.store.location)/\(key)'")
        }
        guard let bytes else { return .missing }
        do {
            let decoded = try EnvelopeReader.decode(bytes, key: repository.key)
            guard let ledger = decode(decoded.plaintext, stanza: stanza) else {
                return .damaged("it is not a ledger of stanza '\(stanza)'")
            }
            return .ledger(ledger)
        } catch {
            return .damaged("\(error)")
        }
    }

    /// Replaces the stanza's ledger atomically.
    package func store(in repository: Repository) async throws {
        let key = RepositoryLayout.verifyLedger(stanza)
        let bytes = encodeEnvelope(encoded(), key: repository.key, kind: .verifyLedger, compression: .zstd).bytes
        do {
            _ = try await repository.store.put(key, bytes: bytes, ifAbsent: false)
        } catch {
            throw TidemarkError.wrap(error, doing: "write '\(repository.store.location)/\(key)'")
        }
    }
}
