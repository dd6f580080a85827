import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tidemark
import TidemarkAudit
import TidemarkCore

/// `tidemark audit [list]` and `tidemark audit verify` (docs/audit.md).
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Show the audit log (who did what, when, from where), or prove it unbroken.",
        subcommands: [AuditListCommand.self, AuditVerifyCommand.self], defaultSubcommand: AuditListCommand.self)
}

struct AuditListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the audit log's entries, oldest first (the default of `tidemark audit`).",
        discussion: "Reads the log from the repository (the first one, or --repo), not from the local mirror.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Only entries at or after this instant (2026-12-01 00:00:00+00, …Z) or this long ago (90m, 24h, 7d).")
    var since: String?
    @Flag(name: .long, help: "Print JSON lines: one entry per line, as stored.") var json = false
    @Option(name: .long, help: "Read this repository's log (default: the first configured).") var repo: String?

    func run() async throws {
        try await Tidemark_run("audit") {
            let engine = Engine(try global.load(), logger: makeLogger())
            let from = try since.map { try AuditTime.since($0, now: engine.now()) }
            let name = try repo ?? engine.configuration.repositories.first.map(\.name)
                ?? { throw TidemarkError(.configuration, "no repository is configured") }()
            let (logs, unavailable) = await engine.auditLogs(only: name)
            if let failed = unavailable.first { throw TidemarkError(.repository, "unable to read the audit log of repository '\(failed.name)': \(failed.error)") }
            guard let log = logs.first?.log else {
                _ = try engine.configuration.repository(named: name)
                return
            }
            let (entries, unreadable) = try await AuditReading.entries(of: log, since: from)
            for entry in entries {
                print(json ? String(decoding: entry.canonicalBytes(), as: UTF8.self) : Self.line(entry))
            }
            if unreadable > 0 {
                writeStderr("tidemark audit: WARNING: \(unreadable) entries do not authenticate or decode; `tidemark audit verify` names them\n")
            }
        }
    }

    /// `seq time action outcome user@host target… [exit N: error]`.
    static func line(_ e: AuditEntry) -> String {
        let who = e.actor.token.map { "token \($0)" } ?? (e.actor.user + (e.actor.sudoUser.map { " (sudo from \($0))" } ?? ""))
        var text = "\(e.seq) \(e.time) \(e.action) \(e.outcome) \(who)@\(e.source.host)"
        if let remote = e.source.remote { text += " from \(remote)" }
        let target = e.target.filter { $0.key != "stanza" }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let detail = e.detail.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        if !(target + detail).isEmpty { text += " " + (target + detail).joined(separator: " ") }
        if e.outcome != "success" {
            text += " (exit \(e.exitCode.map(String.init) ?? "?")" + (e.error.map { ": \($0)" } ?? "") + ")"
        }
        return text
    }
}

struct AuditVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Prove the audit log unbroken in every repository, and against the local mirror.",
        discussion: "Every entry must authenticate, hold its own seq, link to the one before (SHA-256) and have no gap before it; every entry of the local mirror must be in the repository, unchanged. Exit 0: unbroken; 12: broken (each problem names the entry).")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .long, help: "Print JSON.") var json = false

    func run() async throws {
        try await Tidemark_run("audit verify") {
            let engine = Engine(try global.load(), logger: makeLogger())
            let (logs, unavailable) = await engine.auditLogs()
            if let failed = unavailable.first { throw TidemarkError(.repository, "unable to read the audit log of repository '\(failed.name)': \(failed.error)") }
            let mirror = AuditTrail.mirror(engine.configuration, environment: ProcessEnvironment.current())
            let report = try await AuditReading.verify(stanza: engine.configuration.stanza, logs: logs, mirror: mirror)
            print(json ? try renderJSON(report) : Self.rendered(report))
            if report.broken {
                let count = report.repositories.map(\.problems.count).reduce(report.mirrorUnreadableLines.count, +)
                throw TidemarkError(.verification, "the audit log of stanza '\(report.stanza)' is broken: \(count) problem(s), listed above",
                                    hints: ["an entry missing, altered or removed was changed behind Tidemark's back: keep the repository and the mirror as they are for investigation"])
            }
        }
    }

    static func rendered(_ report: AuditVerifyReport) -> String {
        var lines: [String] = []
        for r in report.repositories {
            let head = r.headSeq.map { "head \($0) sha256 \(r.headSHA256 ?? "")" } ?? "empty"
            lines.append("repository '\(r.repository)': \(r.entries) entries, \(head), \(r.mirrored) in the local mirror: "
                         + (r.problems.isEmpty ? "unbroken" : "BROKEN"))
            for p in r.problems { lines.append("  \(p)") }
        }
        if let path = report.mirror {
            for n in report.mirrorUnreadableLines { lines.append("mirror '\(path)' line \(n) does not parse") }
        } else {
            lines.append("no local mirror on this host: entries removed from the newest end cannot be detected here")
        }
        return lines.joined(separator: "\n")
    }
}
