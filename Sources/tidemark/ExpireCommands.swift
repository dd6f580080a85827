import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tidemark
import TidemarkRetention
import TidemarkCore

struct ExpireCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "expire",
        abstract: "Delete the backups and WAL the retention policy no longer keeps.",
        discussion: "Prints the plan first: every backup kept or deleted with its reasons, the WAL ranges deleted, the bytes freed and the restorable window before and after (docs/retention.md). Takes the stanza lock; a running backup makes it fail at once (exit 13).")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .long, help: "Print the plan only; write nothing (not even the lock) but the run's audit-log entry.") var dryRun = false
    @Flag(name: .long, help: "Print JSON (docs/expire-json.md).") var json = false
    @Option(name: .long, help: "Only this repository (default: every repository, each with its own policy).") var repo: String?
    @Option(name: .long, help: "Evaluate the policy at this instant (2026-12-08 04:00:00+00, …Z): what will that run delete?") var asOf: String?
    @Option(name: .long, help: "Run only if the repositories still produce the plan of this hash (printed by --dry-run).") var apply: String?

    func validate() throws {
        if dryRun && apply != nil { throw ValidationError("--apply runs a plan: it does not go with --dry-run") }
        if let asOf {
            do { _ = try PostgresTimestamp(parsing: asOf) } catch { throw ValidationError("--as-of \(error)") }
        }
        if let apply, apply.utf8.count != 16 || !apply.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) {
            throw ValidationError("--apply takes the 16-hex-digit plan hash that `tidemark expire --dry-run` prints")
        }
    }

    func run() async throws {
        try await Tidemark_run("expire") {
            let at = try asOf.map { Date(timeIntervalSince1970: try PostgresTimestamp(parsing: $0).unixSeconds) }
            let options = ExpireOptions(dryRun: dryRun, repository: repo, asOf: at, apply: apply)
            let (report, failures) = try await Engine(global.load(), logger: makeLogger()).audited().expire(options)
            if json {
                print(try renderJSON(report))
            } else {
                print(report.rendered())
            }
            if let failure = failures.first { throw failure }
        }
    }
}

struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete one backup (and with --cascade the backups built on it).",
        discussion: "Refuses, naming them, a backup others depend on, one the PITR window needs and a pinned one. WAL is left to expire.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "The backup id (tidemark list).") var backup: String
    @Flag(name: .long, help: "Also delete the backups built on it (listed first).") var cascade = false
    @Flag(name: .long, help: "Say what would be deleted; write nothing.") var dryRun = false
    @Flag(name: .long, help: "Print JSON (docs/expire-json.md).") var json = false
    @Option(name: .long, help: "Only this repository (default: every repository holding the backup).") var repo: String?

    func run() async throws {
        try await Tidemark_run("delete") {
            let report = try await Engine(global.load(), logger: makeLogger()).audited().delete(backup: backup, dryRun: dryRun, cascade: cascade, repository: repo)
            if json {
                print(try renderJSON(report))
            } else {
                for r in report.repositories {
                    let verb = dryRun ? "would delete" : "deleted"
                    print("\(verb) \(r.deleted.joined(separator: ", ")) in repository '\(r.repository)': \(r.objectsDeleted) objects, \(formatBytes(r.bytesFreed))")
                }
                if !dryRun { print("the WAL these backups needed is removed by the next `tidemark expire`") }
            }
        }
    }
}

struct PinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin", abstract: "Keep a backup whatever the retention policy says (a legal hold).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The backup id.") var id: String
    @Option(name: .long, help: "Why it is held (shown by list and expire).") var reason: String?
    @Option(name: .long, help: "Only this repository (default: every repository holding the backup).") var repo: String?

    func run() async throws {
        try await Tidemark_run("pin") {
            for line in try await Engine(global.load(), logger: makeLogger()).audited().pin(id, reason: reason, repository: repo) { print(line) }
        }
    }
}

struct UnpinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unpin", abstract: "End a pin: the backup is subject to retention again.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The backup id.") var id: String
    @Option(name: .long, help: "Only this repository (default: every repository holding the backup).") var repo: String?

    func run() async throws {
        try await Tidemark_run("unpin") {
            for line in try await Engine(global.load(), logger: makeLogger()).audited().pin(id, reason: nil, remove: true, repository: repo) { print(line) }
        }
    }
}

func renderJSON<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
