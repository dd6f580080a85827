import ArgumentParser
import Tidemark
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Create the configured repositories (directory 0700, wrapped data key).")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await Tidemark_run("init") {
            for line in try await Engine.initialize(global.load()) { print(line) }
        }
    }
}

struct InfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Show what the repositories hold.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .long, help: "Print JSON.") var json = false

    func run() async throws {
        try await Tidemark_run("info") {
            let report = try await Engine.info(global.load())
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(report.rendered())
            }
        }
    }
}

struct WALPushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wal-push", abstract: "Archive one WAL file (archive_command = 'tidemark wal-push %p').")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Path of the WAL file (%p).") var path: String

    func run() async throws {
        try await Tidemark_run("wal-push") {
            for notice in try await Engine.walPush(global.load(), path: path) { writeStderr(notice + "\n") }
        }
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
        try await Tidemark_run("wal-fetch", fetch: true) {
            var configuration = try global.load()
            if let repo { configuration.repositories = [try configuration.repository(named: repo)] }
            try await Engine.walFetch(configuration, name: name, destination: destination, report: { writeStderr($0 + "\n") })
        }
    }
}

/// `run` is shadowed inside commands by their own `run()`; this name reaches the helper.
func Tidemark_run(_ command: String, fetch: Bool = false, _ body: () async throws -> Void) async throws {
    try await run(command, fetch: fetch, body)
}
