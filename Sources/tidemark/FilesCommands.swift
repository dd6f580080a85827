import ArgumentParser
import Tidemark
import TidemarkCore
import TidemarkFiles
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct FilesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "files", abstract: "Back up, list, restore and compare the file storage (files.paths: uploads, images, attachments).",
        subcommands: [FilesBackupCommand.self, FilesListCommand.self, FilesRestoreCommand.self, FilesDiffCommand.self])
}

extension FilesSnapshot.Kind: ExpressibleByArgument {
    public init?(argument: String) {
        switch argument {
        case "full": self = .full
        case "incremental": self = .incremental
        default: return nil
        }
    }
    public static var allValueStrings: [String] { ["full", "incremental"] }
}

struct FilesBackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Back up files.paths into a new file snapshot.",
        discussion: "incremental (default) reads only files whose size, mtime, ctime or inode changed since the newest snapshot; full reads everything. Both give a snapshot that restores alone.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "full or incremental.") var type: FilesSnapshot.Kind = .incremental
    @Option(name: .long, help: "A label kept with the snapshot.") var label: String?
    @Option(name: .customLong("database-backup"), help: "The id of the database backup taken with these files (backup jobs with includeFiles pass it).")
    var databaseBackup: String?

    func validate() throws {
        if let id = databaseBackup, BackupID(rawValue: id) == nil {
            throw ValidationError("--database-backup '\(id.prefix(64))' is not a backup id (tidemark list shows them, e.g. 20261201-030000F)")
        }
    }

    func run() async throws {
        try await Tidemark_run("files backup") {
            let result = try await Engine(global.load(), logger: makeLogger()).filesBackup(type: type, label: label, databaseBackupID: databaseBackup)
            for w in result.warnings { writeStderr("WARNING: \(w)\n") }
            let s = result.snapshot
            for n in s.unreadablePaths { writeStderr("WARNING: unreadable: \(FilesPath.display(n.path)): \(n.reason)\n") }
            for p in s.changingPaths { writeStderr("WARNING: changed while read (stored as last read, flagged): \(FilesPath.display(p))\n") }
            print("file snapshot \(s.id) (\(s.kind.name)\(s.parent.map { ", parent \($0)" } ?? "")): \(s.counts.files) files, "
                  + "\(formatBytes(Int64(s.counts.bytes))), \(formatBytes(Int64(s.counts.newBytes))) new, \(formatBytes(Int64(s.counts.readBytes))) read; "
                  + "unreadable \(s.counts.unreadable), changing \(s.counts.changing), skipped \(s.counts.skipped); "
                  + "written to \(result.repositories.joined(separator: ", "))")
        }
    }
}

struct FilesListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the file snapshots, oldest first.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .long, help: "Print JSON: {\"snapshots\": [...]}.") var json = false

    struct Item: Encodable {
        var id: String
        var time: String
        var type: String
        var label: String?
        var parent: String?
        var paths: [String]
        var databaseBackup: String?
        var walStart: String?
        var walEnd: String?
        var files: Int
        var bytes: UInt64
        var newBytes: UInt64
        var unreadable: Int
        var changing: Int
        var skipped: Int
    }

    func run() async throws {
        try await Tidemark_run("files list") {
            let snapshots = try await Engine(global.load(), logger: makeLogger()).filesSnapshots()
            let items = snapshots.map { s in
                Item(id: s.id, time: Engine.date(s.time).formatted(.iso8601), type: s.kind.name, label: s.label, parent: s.parent,
                     paths: s.roots.map(\.pathText), databaseBackup: s.databaseBackupID, walStart: s.walStart, walEnd: s.walEnd,
                     files: s.counts.files, bytes: s.counts.bytes, newBytes: s.counts.newBytes, unreadable: s.counts.unreadable,
                     changing: s.counts.changing, skipped: s.counts.skipped)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(["snapshots": items]), as: UTF8.self))
                return
            }
            if items.isEmpty { return print("no file snapshots") }
            for i in items {
                print("\(i.id)  \(i.time)  \(i.type.padding(toLength: 11, withPad: " ", startingAt: 0))  \(i.files) files  "
                      + "\(formatBytes(Int64(i.bytes)))\(i.label.map { "  \($0)" } ?? "")"
                      + (i.unreadable + i.changing > 0 ? "  (unreadable \(i.unreadable), changing \(i.changing))" : ""))
            }
        }
    }
}

struct FilesRestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore", abstract: "Restore a file snapshot below a directory.",
        discussion: "Each configured path is restored at DIR/<path>. Default snapshot: the newest; --as-of TIME: the newest taken at or before TIME (the time a PITR restore targets).")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Directory to restore into (created 0700 when missing; must be empty unless --allow-non-empty).") var to: String
    @Option(name: .long, help: "Snapshot id (files list).") var snapshot: String?
    @Option(name: .long, help: "The newest snapshot at or before this time; a zone is required (2026-11-26 14:30:00+00, …Z).") var asOf: String?
    @Flag(name: .long, help: "List what would be written, with sizes; write nothing.") var dryRun = false
    @Flag(name: .long, help: "Restore into a directory that has entries (files of the same names are replaced; nothing is deleted).")
    var allowNonEmpty = false
    @Argument(help: "Original absolute paths to restore (default: everything).") var paths: [String] = []

    func validate() throws {
        guard snapshot == nil || asOf == nil else { throw ValidationError("give --snapshot or --as-of, not both") }
        for p in paths where !p.hasPrefix("/") { throw ValidationError("PATH '\(p)' must be absolute (the path as it was backed up)") }
        if let asOf { _ = try Self.time(asOf) }
    }

    static func time(_ text: String) throws -> Date {
        do {
            return Date(timeIntervalSince1970: try PostgresTimestamp(parsing: text).unixSeconds)
        } catch {
            throw ValidationError("--as-of \(error)")
        }
    }

    func run() async throws {
        try await Tidemark_run("files restore") {
            let engine = Engine(try global.load(), logger: makeLogger())
            let chosen = try await engine.filesSnapshot(id: snapshot, asOf: try asOf.map(Self.time))
            let target = ConfigurationLoaderPaths.absolute(to)
            let options = FilesRestoreOptions(target: target, paths: paths, dryRun: dryRun, allowNonEmpty: allowNonEmpty)
            let report = try await engine.filesRestore(snapshot: chosen, options: options)
            if dryRun {
                for item in report.items {
                    print("\(item.kind == .directory ? "dir " : item.kind == .symlink ? "link" : "file") \(formatBytes(Int64(item.size)).padding(toLength: 10, withPad: " ", startingAt: 0)) \(FilesPath.display(item.path))")
                }
                print("dry run: would restore snapshot \(chosen.id) (\(Engine.date(chosen.time).formatted(.iso8601))) into \(target): "
                      + "\(report.files + report.hardLinks) files, \(report.directories) directories, \(report.symlinks) symlinks, \(formatBytes(Int64(report.bytes))); nothing was written")
                return
            }
            print("restored file snapshot \(chosen.id) (\(Engine.date(chosen.time).formatted(.iso8601))) into \(target): "
                  + "\(report.files) files, \(report.hardLinks) hard links, \(report.directories) directories, \(report.symlinks) symlinks, \(formatBytes(Int64(report.bytes)))")
            if chosen.counts.changing > 0 {
                writeStderr("WARNING: \(chosen.counts.changing) file(s) changed while they were backed up and may be torn: \(chosen.changingPaths.prefix(5).map(FilesPath.display).joined(separator: ", "))\n")
            }
        }
    }
}

struct FilesDiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff", abstract: "What changed between two file snapshots.",
        discussion: "One line per change: + added, - removed, M content modified, m metadata only (mode, owner, mtime), R renamed (old -> new). An added or removed directory is one line.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The older snapshot id.") var from: String
    @Argument(help: "The newer snapshot id.") var to: String

    func run() async throws {
        try await Tidemark_run("files diff") {
            let changes = try await Engine(global.load(), logger: makeLogger()).filesDiff(from, to)
            for c in changes {
                switch c.kind {
                case .added: print("+ \(FilesPath.display(c.path))")
                case .removed: print("- \(FilesPath.display(c.path))")
                case .modified: print("M \(FilesPath.display(c.path))")
                case .metadata: print("m \(FilesPath.display(c.path))")
                case .renamed: print("R \(FilesPath.display(c.from ?? [])) -> \(FilesPath.display(c.path))")
                }
            }
        }
    }
}
