/// One thing wrong with an audit log, naming the entry.
public struct AuditProblem: Codable, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Codable, Sendable {
        /// A seq below the newest is not in the repository.
        case missing
        /// The entry does not authenticate or decode (GCM refused it), or is not an entry.
        case unreadable
        /// The entry holds another seq or stanza than its key says: moved or copied.
        case misplaced
        /// The next entry records another SHA-256 for this one: altered or replaced.
        case altered
        /// In the local mirror, not in the repository: removed.
        case removed
        /// In both, with different contents.
        case differsFromMirror
        /// A key of the log's prefix that names no entry, or a mirror line that does not parse.
        case foreign
    }

    public var kind: Kind
    /// The entry's seq (nil for a foreign key or mirror line).
    public var seq: UInt64?
    public var message: String

    public init(_ kind: Kind, seq: UInt64?, _ message: String) {
        self.kind = kind
        self.seq = seq
        self.message = message
    }

    public var description: String { seq.map { "entry \($0): \(message)" } ?? message }
}

/// The audit log's proof, pure: what a repository's entries and the mirror's say together.
public enum AuditChain {
    /// What is wrong with one repository's log: every entry read (`reads`, by seq), the keys
    /// of its prefix that name no seq, and the mirror's lines for this repository.
    ///
    /// Checks: each entry authenticates and decodes and holds its own seq and stanza; no seq
    /// from 1 to the newest is missing; each entry's `prev` is the SHA-256 of the one before
    /// (seq 1: 64 zeros), so an entry altered — even re-encrypted with the real key — breaks
    /// the link to the next; each mirrored entry is in the repository with the same SHA-256
    /// (which catches the newest entries removed, and the newest altered).
    public static func check(stanza: String, reads: [(seq: UInt64, read: AuditLog.Read)], foreign: [String],
                             mirror: [AuditEntry]) -> [AuditProblem] {
        var problems: [AuditProblem] = foreign.map { AuditProblem(.foreign, seq: nil, "'\($0)' is in the audit log's place but names no entry") }
        var hashes: [UInt64: String] = [:]
        var entries: [UInt64: AuditEntry] = [:]
        var present = Set<UInt64>()
        for (seq, read) in reads.sorted(by: { $0.seq < $1.seq }) {
            switch read {
            case .vanished:
                continue
            case .unreadable(let why):
                present.insert(seq)
                problems.append(AuditProblem(.unreadable, seq: seq, why))
            case .entry(let entry, let sha):
                present.insert(seq)
                guard entry.seq == seq, entry.stanza == stanza else {
                    problems.append(AuditProblem(.misplaced, seq: seq, "it holds entry \(entry.seq) of stanza '\(entry.stanza ?? "?")': copied or moved from elsewhere"))
                    continue
                }
                hashes[seq] = sha
                entries[seq] = entry
            }
        }
        let newest = max(present.max() ?? 0, mirror.map(\.seq).max() ?? 0)
        let inMirror = Dictionary(mirror.map { ($0.seq, $0) }, uniquingKeysWith: { a, b in a == b ? a : b })
        if newest > 0 {
            for seq in 1...newest where !present.contains(seq) && inMirror[seq] == nil {
                problems.append(AuditProblem(.missing, seq: seq, "it is missing: removed from the repository"))
            }
        }
        for (seq, entry) in entries.sorted(by: { $0.key < $1.key }) {
            if seq == 1 {
                if entry.prev != AuditEntry.genesis {
                    problems.append(AuditProblem(.altered, seq: 1, "it is not the first entry of a log (its prev is not 64 zeros): the entries before it were removed"))
                }
            } else if let before = hashes[seq - 1], before != entry.prev {
                problems.append(AuditProblem(.altered, seq: seq - 1, "it was altered or replaced: entry \(seq) records SHA-256 \(entry.prev.prefix(16))…, it has \(before.prefix(16))…"))
            }
        }
        var mirrorSeen = Set<UInt64>()
        for m in mirror.sorted(by: { $0.seq < $1.seq }) where mirrorSeen.insert(m.seq).inserted {
            let copies = mirror.filter { $0.seq == m.seq }
            if Set(copies).count > 1 {
                problems.append(AuditProblem(.differsFromMirror, seq: m.seq, "the local mirror holds \(Set(copies).count) different entries of this seq"))
            }
            guard present.contains(m.seq) else {
                problems.append(AuditProblem(.removed, seq: m.seq, "it is in the local mirror (\(m.action), \(m.time)) but not in the repository: removed"))
                continue
            }
            if let sha = hashes[m.seq], !copies.contains(where: { $0.sha256 == sha }) {
                problems.append(AuditProblem(.differsFromMirror, seq: m.seq, "it differs from the local mirror's copy (\(m.action), \(m.time)): altered in one of them"))
            }
        }
        return problems.sorted { ($0.seq ?? 0, $0.kind.rawValue) < ($1.seq ?? 0, $1.kind.rawValue) }
    }
}
