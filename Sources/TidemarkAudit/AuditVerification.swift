import TidemarkCore
import TidemarkSystem

/// `tidemark audit verify --json`: every repository's chain and how it compares with the mirror.
public struct AuditVerifyReport: Codable, Sendable {
    public struct Repository: Codable, Sendable {
        public var repository: String
        public var entries: Int
        /// The newest entry that decoded, and its SHA-256 (the chain's head).
        public var headSeq: UInt64?
        public var headSHA256: String?
        public var mirrored: Int
        public var problems: [AuditProblem]
    }

    /// `unbroken` or `broken`.
    public var status: String
    public var stanza: String
    public var mirror: String?
    public var mirrorUnreadableLines: [Int]
    public var repositories: [Repository]

    public var broken: Bool { status != "unbroken" }
}

/// Reading the logs: listing entries and proving chains (I/O around `AuditChain`).
public enum AuditReading {
    /// Reads every entry of every log and the mirror, and checks them (`AuditChain.check`).
    public static func verify(stanza: String, logs: [(name: String, log: AuditLog)], mirror: AuditMirror?) async throws -> AuditVerifyReport {
        let mirrored: (lines: [AuditMirror.Line], unreadable: [Int])?
        if let mirror {
            mirrored = try await BlockingPool.shared.run("read the audit mirror") { try mirror.readAll() }
        } else {
            mirrored = nil
        }
        var report = AuditVerifyReport(status: "unbroken", stanza: stanza, mirror: mirrored == nil ? nil : mirror?.path,
                                       mirrorUnreadableLines: mirrored?.unreadable ?? [], repositories: [])
        for (name, log) in logs {
            let (reads, foreign) = try await log.readAll()
            let mine = (mirrored?.lines ?? []).filter { $0.repository == name && $0.entry.stanza == stanza }.map(\.entry)
            let problems = AuditChain.check(stanza: stanza, reads: reads, foreign: foreign, mirror: mine)
            var head: (UInt64, String)?
            for (seq, read) in reads.reversed() {
                if case .entry(_, let sha) = read { head = (seq, sha); break }
            }
            report.repositories.append(.init(repository: name, entries: reads.count, headSeq: head?.0, headSHA256: head?.1,
                                             mirrored: Set(mine.map(\.seq)).count, problems: problems))
        }
        if !report.mirrorUnreadableLines.isEmpty || report.repositories.contains(where: { !$0.problems.isEmpty }) {
            report.status = "broken"
        }
        return report
    }

    /// The entries of `log` whose time is at or after `since` (entry-time text), by seq, and
    /// how many did not decode (`audit verify` says which).
    public static func entries(of log: AuditLog, since: String?) async throws -> (entries: [AuditEntry], unreadable: Int) {
        let (reads, _) = try await log.readAll()
        var out: [AuditEntry] = []
        var unreadable = 0
        for (_, read) in reads {
            switch read {
            case .entry(let e, _): if since.map({ e.time >= $0 }) ?? true { out.append(e) }
            case .unreadable: unreadable += 1
            case .vanished: break
            }
        }
        return (out, unreadable)
    }
}
