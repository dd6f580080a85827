import ArgumentParser
import Tidemark
import TidemarkCore
import TidemarkVerify

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Prove the repository restorable: every object, every backup's catalog, the WAL's continuity and the windows.",
        discussion: "Reads in full what its ledger has not proven yet plus a rotating sample of the rest (--full: everything). Exits 0 when clean and 12 when it found problems, each named with what to do (docs/verify.md, docs/verify-json.md).")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Only this backup: its objects, the packs it uses, its parents' catalogs, its WAL.") var backup: String?
    @Flag(name: .long, help: "Only the WAL: segments, history files, continuity, windows.") var wal = false
    @Flag(name: .long, help: "Everything (the default).") var all = false
    @Option(name: .long, help: "Only backups that ended at or after this instant, and the WAL from the oldest of them.") var since: String?
    @Flag(name: .long, help: "Read every object again and rebuild the ledger.") var full = false
    @Option(name: .long, help: "Known objects re-read per run, in percent (default 2: all of them over 50 runs; 0: none).") var samplePercent: Double = 2
    @Flag(name: .long, help: "Print JSON (docs/verify-json.md).") var json = false
    @Option(name: .long, help: "Only this repository (default: every repository).") var repo: String?
    @Flag(name: .long, help: "Copy missing or damaged objects from another repository that holds a good copy (takes the stanza lock).") var repair = false
    @Option(name: .customLong("files-snapshot"), help: "Only this file snapshot (files list): every chunk it references is in the index and every pack holding them authenticates.")
    var filesSnapshot: String?

    func validate() throws {
        if [backup != nil, wal, all, since != nil].filter({ $0 }).count > 1 {
            throw ValidationError("--backup, --wal, --all and --since choose what to verify: give one of them")
        }
        if let since {
            do { _ = try PostgresTimestamp(parsing: since) } catch { throw ValidationError("--since \(error)") }
        }
        if let backup, BackupID(rawValue: backup) == nil { throw ValidationError("--backup '\(backup)' is not a backup id (tidemark list shows them)") }
        guard samplePercent >= 0 && samplePercent <= 100 else { throw ValidationError("--sample-percent takes 0 … 100") }
        if filesSnapshot != nil, backup != nil || wal || all || since != nil || full || repair || repo != nil {
            throw ValidationError("--files-snapshot verifies one file snapshot in every file repository: give it alone (with --json)")
        }
    }

    func run() async throws {
        try await Tidemark_run("verify") {
            if let filesSnapshot { return try await verifyFiles(filesSnapshot) }
            var scope = VerifyScope.all
            if let backup, let id = BackupID(rawValue: backup) { scope = .backup(id) }
            if wal { scope = .wal }
            if let since { scope = .since(try PostgresTimestamp(parsing: since)) }
            let options = VerifyCommandOptions(run: VerifyOptions(scope: scope, full: full, samplePercent: samplePercent),
                                               repository: repo, repair: repair)
            let (report, failures) = try await Engine(global.load(), logger: makeLogger()).audited().verify(options)
            print(json ? try jsonText(report) : report.rendered())
            // A repository that could not be read at all exits with its own code (4, 5, 7, …).
            if let failure = failures.first { throw failure }
            if report.status != "ok" {
                let names = report.repositories.filter { $0.status != "ok" }.map(\.name).joined(separator: ", ")
                throw TidemarkError(.verification, "\(report.problems) problem(s) found in repository \(names)",
                                    hints: ["each problem above names the object and what to do"])
            }
        }
    }
}

extension VerifyCommand {
    /// `--files-snapshot ID`: the report, then exit 12 when it found problems.
    func verifyFiles(_ id: String) async throws {
        let report = try await Engine(global.load(), logger: makeLogger()).audited().verifyFilesSnapshot(id: id)
        if json {
            print(try jsonText(report))
        } else {
            for r in report.repositories {
                guard r.status != "absent" else {
                    print("repository '\(r.name)': file snapshot \(report.snapshot) is not here (restores read it from another repository)")
                    continue
                }
                print("repository '\(r.name)': file snapshot \(report.snapshot): \(r.status) — \(r.trees) directory trees, \(r.chunks) chunks, "
                      + "\(r.packs) packs authenticated (\(formatBytes(r.bytesRead)))")
                for p in r.problems {
                    print("  PROBLEM (\(p.kind.rawValue)) \(p.message)")
                    print("    HINT: \(p.hint)")
                }
            }
        }
        if report.problems > 0 {
            let names = report.repositories.filter { $0.status == "problems" }.map(\.name).joined(separator: ", ")
            throw TidemarkError(.verification, "\(report.problems) problem(s) found in file snapshot \(report.snapshot) in repository \(names)",
                                hints: ["each problem above names the object and what to do"])
        }
    }
}

extension VerifyReport {
    /// The text report: per repository what was read, every problem with its HINT, the gaps
    /// and the restorable windows.
    func rendered() -> String {
        var lines: [String] = []
        for r in repositories {
            lines.append("repository '\(r.name)' (\(r.location)), stanza '\(r.stanza)': \(r.status) — \(r.scope)")
            lines.append("  objects: \(r.objectsListed) listed, \(r.objectsRead) read (\(r.newObjects) new or unproven, \(r.changedObjects) changed, \(r.sampledObjects) sampled), \(r.knownObjects) proven earlier; \(formatBytes(r.bytesRead)) read in \(format2(r.durationSeconds)) s")
            lines.append("  backups checked: \(r.backupsChecked); WAL segments checked: \(r.segmentsChecked); ledger: \(r.ledger)")
            if !r.repaired.isEmpty { lines.append("  repaired from another repository: \(r.repaired.joined(separator: ", "))") }
            for p in r.problems {
                lines.append("  PROBLEM (\(p.kind.rawValue)) \(p.message)")
                lines.append("    HINT: \(p.hint)")
            }
            if r.windows.isEmpty {
                lines.append("  restorable: nothing (no backup reaches a commit)")
            }
            for w in r.windows {
                lines.append("  restorable on timeline \(w.timeline): \(w.from) … \(w.to) (from backup \(w.backup))")
            }
        }
        return lines.joined(separator: "\n")
    }
}
