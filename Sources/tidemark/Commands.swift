import ArgumentParser
import CTidemarkSupport
import Tidemark
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
import TidemarkCore

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Create the configured repositories (directory 0700, wrapped data key).",
        discussion: "With --repo NAME, only that repository: one added to the configuration after the others were initialized.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("repo"), help: "Initialize only this repository.") var repo: String?

    func run() async throws {
        try await Tidemark_run("init") {
            for line in try await Engine(global.load(), logger: makeLogger()).initialize(only: repo) { print(line) }
        }
    }
}

struct InfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Show what the repositories hold.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .long, help: "Print JSON.") var json = false

    func run() async throws {
        try await Tidemark_run("info") {
            let engine = Engine(try global.load(), logger: makeLogger())
            let report = try await engine.info()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(report.rendered())
                if let (name, snapshots) = await engine.filesSnapshotsForReport(), engine.configuration.files.isConfigured || !snapshots.isEmpty {
                    print(FilesSnapshotNote.info(snapshots: snapshots, repository: name))
                }
            }
            if let failure = report.failures.first { throw failure }
        }
    }
}

struct WALPushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wal-push", abstract: "Archive one WAL file (archive_command = 'tidemark wal-push %p').")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Path of the WAL file (%p).") var path: String

    func run() async throws {
        try await ArchiveCommands.push(config: global.config, stanza: global.stanza, path: path)
    }
}

struct WALFetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wal-fetch",
        abstract: "Restore one WAL file (restore_command = 'tidemark wal-fetch %f %p'). Exit 1: not archived; 126: failure.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "WAL file name (%f).") var name: String
    @Argument(help: "Destination path (%p).") var destination: String
    @Option(name: .long, help: "Read only from this repository (restore writes it when it restored from a repository other than the first).")
    var repo: String?

    func run() async throws {
        try await ArchiveCommands.fetch(config: global.config, stanza: global.stanza, repo: repo, name: name, destination: destination)
    }
}

/// The bodies of `wal-push` and `wal-fetch`, shared by their commands and by `ArchiveFastPath`.
enum ArchiveCommands {
    static func push(config: String?, stanza: String?, path: String) async throws {
        try await Tidemark_run("wal-push") {
            let configuration = try ConfigurationLoader.load(configPath: config, stanza: stanza, environment: ProcessEnvironment.current())
            // The resident archiver first: no key unwrapped, no repository opened.
            if let notices = await ArchiverHandOff.ask(configuration, path: path) {
                for notice in notices { writeStderr(notice + "\n") }
                return
            }
            // The file's SHA-256 and WAL scan start now, on threads of their own, and run while
            // the repository is opened.
            let prepared = PreparedWALFile.start(path: path)
            for notice in try await Engine(configuration, logger: makeLogger()).walPush(path: path, prepared: prepared) { writeStderr(notice + "\n") }
        }
    }

    static func fetch(config: String?, stanza: String?, repo: String?, name: String, destination: String) async throws {
        try await Tidemark_run("wal-fetch", fetch: true) {
            var configuration = try ConfigurationLoader.load(configPath: config, stanza: stanza, environment: ProcessEnvironment.current())
            if let repo { configuration.repositories = [try configuration.repository(named: repo)] }
            // PostgreSQL runs restore_command in the data directory.
            let dataDirectory = currentDirectory()
            let engine = Engine(configuration, logger: makeLogger())
            let spool = engine.prefetchSpool(dataDirectory: dataDirectory)
            let recovering = PrefetchSpool.isDataDirectory(dataDirectory) ? dataDirectory : nil
            try await engine.walFetch(name: name, destination: destination, spool: spool,
                                      startPrefetcher: { [configuration] fd in
                                          if let spool {
                                              spawnPrefetcher(configuration, spool: spool, lockFD: fd, repo: repo, dataDirectory: recovering)
                                          }
                                      },
                                      report: { writeStderr($0 + "\n") })
        }
    }
}

func currentDirectory() -> String {
    var buf = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buf, buf.count) != nil else { return "." }
    return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// `tidemark [--config F] --stanza S wal-prefetch --spool DIR --lock-fd 3 [--data-directory D]`,
/// detached; the environment (repository, key file) is inherited. A failure to start is not an
/// error.
func spawnPrefetcher(_ configuration: Configuration, spool: PrefetchSpool, lockFD: Int32, repo: String? = nil,
                     dataDirectory: String? = nil) {
    let executable = Engine.executablePath(fallback: CommandLine.arguments[0])
    var args = [executable]
    if let file = configuration.configFile { args += ["--config", file] }
    args += ["--stanza", configuration.stanza, "wal-prefetch", "--spool", spool.path, "--lock-fd", "3",
             "--segments", String(spool.capacity)]
    if let repo { args += ["--repo", repo] }
    if let dataDirectory { args += ["--data-directory", dataDirectory] }
    var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
    cargs.append(nil)
    defer { cargs.forEach { free($0) } }
    _ = cargs.withUnsafeBufferPointer { tidemark_spawn_detached(executable, $0.baseAddress, lockFD) }
}

struct WALPrefetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wal-prefetch",
        abstract: "Fetch WAL segments ahead of wal-fetch into its spool (started by wal-fetch).",
        shouldDisplay: false)
    @OptionGroup var global: GlobalOptions
    @Option(help: "Spool directory.") var spool: String
    @Option(help: "Inherited descriptor holding the spool lock.") var lockFd: Int32?
    @Option(help: "Segments to keep ahead.") var segments: Int = 8
    @Option(help: "Read only from this repository (as wal-fetch --repo).") var repo: String?
    @Option(help: "The data directory being recovered: the spool is removed once its pg_control says recovery ended.")
    var dataDirectory: String?

    func run() async throws {
        guard var configuration = try? global.load() else { return }
        if let repo {
            guard let spec = try? configuration.repository(named: repo) else { return }
            configuration.repositories = [spec]
        }
        let spool = PrefetchSpool(path: spool, capacity: segments)
        guard (try? spool.prepare()) != nil else { return }
        let engine = Engine(configuration, logger: makeLogger())
        // One record per recovery session (this process), beside the prefetching, not before it.
        async let recorded: Void = WALFetchSessionAudit.record(engine, spool: spool.path, dataDirectory: dataDirectory, repo: repo)
        await engine.walPrefetch(spool: spool, lockFD: lockFd, dataDirectory: dataDirectory)
        await recorded
    }
}

/// `run` is shadowed inside commands by their own `run()`; this name reaches the helper.
func Tidemark_run(_ command: String, fetch: Bool = false, _ body: () async throws -> Void) async throws {
    try await run(command, fetch: fetch, body)
}
