import ArgumentParser
import Tidemark
import TidemarkCore
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the backups of the stanza.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .long, help: "Print JSON: {\"backups\": [...]} (docs/list-json.md).") var json = false

    func run() async throws {
        try await Tidemark_run("list") {
            let list = try await Engine(global.load(), logger: makeLogger()).list()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(list), as: UTF8.self))
            } else {
                print(list.rendered())
            }
            if let failure = list.failures.first { throw failure }
        }
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a backup into a directory and configure recovery to a target.",
        discussion: "Plans first (as `tidemark plan`): an unreachable target exits 10 and writes nothing. "
            + "Default target: the end of the archive (--latest). Run as the PostgreSQL server user.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var target: TargetOptions
    @Option(name: .long, help: "Target data directory (absolute; must be empty unless --force).") var to: String
    @Option(name: .long, help: "Backup id (default: the newest that reaches the target).") var backup: String?
    @Option(name: .long, help: "What the server does at the target: promote, pause or shutdown.")
    var targetAction: RecoveryTargetAction = .pause
    @Option(name: .long, parsing: .singleValue, help: "Relocate a tablespace: OLD=NEW (OLD is its location or OID); repeatable.")
    var tablespaceMap: [String] = []
    @Flag(name: .long, help: "Delete what is in the target directory first (on a terminal: lists it and asks for yes). Never deletes anything outside --to but a mapped tablespace's own PG_<version> directory.")
    var force = false
    @Option(name: .long, help: "off (default): the restored cluster gets archive_mode = off, so a copy never archives into this stanza; preserve: keep the backup's archive settings (a new primary).")
    var archiveMode: ArchiveMode = .off
    @Flag(name: .long, help: "Print the plan and the exact recovery settings; write nothing.") var dryRun = false
    @Option(name: .long, help: "Packs fetched in parallel.") var parallel: Int = 2
    @Flag(name: .long, help: "Also read every file back and check its SHA-256 (slower; blocks are always checked).")
    var verifyChecksums = false

    func validate() throws {
        guard (1...64).contains(parallel) else { throw ValidationError("--parallel must be 1...64") }
        for m in tablespaceMap where !m.contains("=") { throw ValidationError("--tablespace-map takes OLD=NEW, got '\(m)'") }
    }

    func run() async throws {
        try await Tidemark_run("restore") {
            let configuration = try global.load()
            let request = try target.request(backup: backup)
            let directory = ConfigurationLoaderPaths.absolute(to)
            // The restored server's own configuration (secrets by file reference only): refused
            // here, before anything is read or written, when the server could not use it.
            let server = try RestoredServerConfiguration(configuration, dataDirectory: directory,
                                                         executable: Engine.executablePath(fallback: CommandLine.arguments[0]))
            let command = server.restoreCommand()
            let onlyFrom: @Sendable (String) -> String = { server.restoreCommand(onlyFrom: $0) }
            var options = RestoreOptions(directory: directory, restoreCommand: command)
            options.restoreCommandOnlyFrom = onlyFrom
            options.restoredServer = server
            options.archiveMode = archiveMode
            options.force = force
            let meter = ProgressMeter(enabled: isatty(2) == 1)
            if meter.enabled { options.progress = { bytes, total in meter.update(bytes, total: total) } }
            if force && isatty(0) == 1 && isatty(2) == 1 {
                options.confirmDeletion = { paths in await ForceConfirmation.ask(paths) }
            }
            options.parallel = parallel
            options.verifyFileChecksums = verifyChecksums
            for m in tablespaceMap {
                let parts = m.split(separator: "=", maxSplits: 1).map(String.init)
                options.tablespaceMap[parts[0]] = parts[1]
            }
            if dryRun {
                let engine = Engine(configuration, logger: makeLogger()).audited()
                let report = try await engine.plan(request: request, report: { writeStderr($0 + "\n") })
                // The target checks of a real restore: what it would refuse, this refuses with the same code.
                let doomed = try engine.checkRestoreTargets(report, options: options)
                let settings = RecoverySettings(plan: report.plan, restoreCommand: report.readsOnlyFrom.map(onlyFrom) ?? command,
                                                action: targetAction)
                print(report.rendered(settings: settings))
                if archiveMode == .off { print("archive_mode = 'off' (--archive-mode off: the restored cluster does not archive)") }
                print("dry run: would restore backup \(report.plan.backup.id) into \(options.directory) and write the settings above "
                      + "(with recovery.signal) into postgresql.auto.conf and the restored server's configuration into "
                      + "\(server.path); nothing was written")
                if !doomed.isEmpty {
                    print("--force would first delete \(doomed.count) entr\(doomed.count == 1 ? "y" : "ies"): "
                          + doomed.prefix(10).joined(separator: ", ") + (doomed.count > 10 ? ", …" : ""))
                }
                return
            }
            if geteuid() == 0 {
                writeStderr("NOTICE: restoring as root: the files will belong to root, and PostgreSQL refuses to start on them; run the restore as the server user (runuser -u postgres -- tidemark restore ...) or chown -R postgres: the directory before starting\n")
            }
            let (report, plan) = try await Engine(configuration, logger: makeLogger()).audited().restore(request: request, action: targetAction, options: options,
                                                            report: { writeStderr($0 + "\n") })
            meter.finish()
            print("restored backup \(report.backup) (\(plan.catalog.type.rawValue), \(report.files) files, \(formatBytes(report.bytes))) into \(options.directory) in \(String(format2(report.seconds))) s")
            print("restore_command checked: it fetched \(plan.plan.segments.first.map { "\($0)" } ?? "the first segment") with the server's own configuration (\(server.path))")
            switch archiveMode {
            case .off:
                print("archive_mode is off in the restored cluster (--archive-mode off): it will not archive into stanza '\(configuration.stanza)'. "
                      + "If it becomes the new primary, delete the archive_mode line tidemark added to postgresql.auto.conf (or ALTER SYSTEM SET archive_mode = on) and restart it")
            case .preserve:
                print("archive settings preserved (--archive-mode preserve): once promoted, this cluster archives into stanza '\(configuration.stanza)' on a new timeline; stop the old primary first")
            }
            print("start the server to recover: timeline \(plan.plan.targetTimeline), stops \(plan.plan.stop.words)")
            if let c = plan.plan.lastCompletion {
                print("the last transaction applied will be \(c.xid) (\(c.verb) at \(c.time.postgresText))")
            }
        }
    }
}

extension ArchiveMode: ExpressibleByArgument {}

extension RestoreCommand {
    /// The restore_command reading only from one repository, for plans that came from a
    /// repository other than the first.
    static func onlyFrom(_ configuration: Configuration, environment: [String: String]) -> @Sendable (String) -> String {
        let executable = Engine.executablePath(fallback: CommandLine.arguments[0])
        return { repository in
            Engine(configuration, logger: makeLogger()).restoreCommand(environment: environment, executable: executable, onlyFrom: repository).command
        }
    }
}

func format2(_ v: Double) -> String {
    let r = (v * 100).rounded() / 100
    return String(r)
}

enum ConfigurationLoaderPaths {
    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath + "/" + path)
    }
}

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Take a base backup over the replication protocol.",
        discussion: "Connection: postgres.conninfo in the config, TIDEMARK_PG_CONNINFO, or libpq's PG* variables and ~/.pgpass.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "full or incremental (stores only the blocks its parent chain lacks).") var type: String = "full"
    @Option(name: .long, help: "A label recorded in backup_label and the catalog.") var label: String?
    @Option(name: .customLong("repo"), help: "Back up into this repository only (default: every configured repository).") var repo: String?
    @Flag(name: .long, help: "Do not read the backup's objects back before committing it (verifyAfterBackup: false in the config does the same).") var noVerify = false

    func validate() throws {
        guard ["full", "incremental", "incr"].contains(type) else { throw ValidationError("--type must be full or incremental") }
        if let label, label.contains("\n") || label.contains("\r") || label.utf8.count > 1024 {
            throw ValidationError("--label must be one line of at most 1024 bytes")
        }
    }

    func run() async throws {
        try await Tidemark_run("backup") {
            let meter = ProgressMeter(enabled: isatty(2) == 1)
            let report: @Sendable (Int64, Int64?) -> Void = { bytes, total in meter.update(bytes, total: total) }
            let configuration = try global.load()
            let backupType: BackupType = type == "full" ? .full : .incremental
            let result = try await Engine(configuration, logger: makeLogger()).audited().backup(type: backupType, label: label, repository: repo,
                                                 verify: !noVerify, progress: meter.enabled ? report : nil)
            meter.finish()
            for n in result.notices { writeStderr("NOTICE: \(n)\n") }
            for a in result.alerts { writeStderr("tidemark: ALERT: \(a)\n") }
            let c = result.catalog
            AuditTrail.note("backup", c.id.rawValue)
            print("backup \(c.id) (\(c.type.rawValue)\(c.parent.map { ", parent \($0)" } ?? "")) complete: \(formatBytes(c.databaseSize)) of data, \(formatBytes(c.storedSize)) stored, LSN \(c.startLSN)-\(c.stopLSN), timeline \(c.timeline), \(format2(c.durationSeconds)) s")
            if configuration.repositories.count > 1 {
                print("stored in repositories: " + result.repositories.joined(separator: ", "))
            }
            if let seconds = result.verifySeconds {
                print("verified: \(result.verifiedObjects) objects read back and authenticated in \(format2(seconds)) s")
            }
        }
    }
}

/// A one-line progress display on a terminal (bytes, rate, ETA); silent otherwise.
final class ProgressMeter: @unchecked Sendable {
    // Updated from one task at a time (the backup's consumer loop).
    let enabled: Bool
    let start = ContinuousClock.now
    var last = ContinuousClock.now - .seconds(1)

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ bytes: Int64, total: Int64?) {
        let now = ContinuousClock.now
        guard enabled, now - last > .milliseconds(250) else { return }
        last = now
        let elapsed = max(0.001, Double((now - start).components.seconds) + Double((now - start).components.attoseconds) / 1e18)
        let rate = Double(bytes) / elapsed
        var line = "\r\(mib(bytes))"
        if let total, total > 0 {
            let pct = min(100, Int(Double(bytes) * 100 / Double(total)))
            let eta = rate > 0 ? Int(Double(max(0, total - bytes)) / rate) : 0
            line += " of ~\(mib(total)) (\(pct)%), \(mib(Int64(rate)))/s, ETA \(eta) s   "
        } else {
            line += ", \(mib(Int64(rate)))/s   "
        }
        writeStderr(line)
    }

    func finish() { if enabled { writeStderr("\r\u{1B}[K") } }

    func mib(_ n: Int64) -> String { String(format2(Double(n) / 1_048_576)) + " MiB" }
}
