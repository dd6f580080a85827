#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CTidemarkSupport
import Tidemark
import TidemarkArchive
import TidemarkArchiver
import TidemarkCore
import TidemarkSystem

/// `tidemark [--config F] [--stanza S] archiver --data-directory D`: the resident archiver in
/// the foreground (docs/archiver.md). `wal-push` starts the same command detached.
struct ArchiverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archiver",
        abstract: "Run the resident archiver: push ready WAL ahead of PostgreSQL and answer wal-push (docs/archiver.md).",
        discussion: "Runs until SIGTERM or SIGINT, or archiver.idleMinutes without work. One per data directory and stanza.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "The PostgreSQL data directory whose pg_wal/archive_status to watch.") var dataDirectory: String

    func run() async throws {
        try await Tidemark_run("archiver") {
            let configuration = try global.load()
            let logger = global.logger()
            try await ResidentArchiver.runAlone(engine: Engine(configuration, logger: logger), dataDirectory: dataDirectory, logger: logger)
        }
    }
}

/// wal-push's question to the resident archiver (docs/archiver.md, "What wal-push does").
enum ArchiverHandOff {
    /// The notices to print when the archiver answered that `path` is durable; nil when
    /// wal-push must push the file itself (no archiver — one is started when autostart is on —,
    /// no answer in time, a failure, another configuration, a file outside this data
    /// directory's pg_wal).
    static func ask(_ configuration: Configuration, path: String) async -> [String]? {
        // PostgreSQL runs archive_command in the data directory with %p = pg_wal/NAME.
        let dataDirectory = currentDirectory()
        let absolutePath = FileIO.absolute(path)
        guard FileIO.parent(absolutePath) == dataDirectory + "/pg_wal" || FileIO.parent(absolutePath) == dataDirectory + "/pg_wal/." else { return nil }
        guard let settings = try? ArchiverSettings.resolve(configuration.service.archiver, stanza: configuration.stanza,
                                                           dataDirectory: dataDirectory, tempDirectory: configuration.tempDirectory) else { return nil }
        let outcome = await ArchiverClient.ask(settings: settings, configuration: configuration, path: absolutePath,
                                               pushSeconds: configuration.ioTimeoutSeconds * 2 + 30)
        let logger = makeLogger()
        switch outcome {
        case .durable(let notices):
            logger.debug("wal-push answered by the archiver", metadata: ["wal.file": "\(FileIO.basename(path))", "socket": "\(settings.socketPath)"])
            return notices
        case .absent:
            let start = settings.autostart && PrefetchSpool.isDataDirectory(dataDirectory)
            if start { spawnArchiver(configuration, dataDirectory: dataDirectory) }
            logger.debug("wal-push pushes itself: no archiver", metadata: ["wal.file": "\(FileIO.basename(path))", "autostart": "\(start)"])
            return nil
        case .noAnswer(let reason), .failed(let reason):
            logger.debug("wal-push pushes itself", metadata: ["wal.file": "\(FileIO.basename(path))", "reason": "\(reason)"])
            return nil
        }
    }

    /// `BIN [--config FILE] --stanza S archiver --data-directory D`, detached (its own session,
    /// standard descriptors on /dev/null); the environment (key, repository) is inherited. A
    /// second archiver started at the same time finds the lock taken and exits.
    static func spawnArchiver(_ configuration: Configuration, dataDirectory: String) {
        let executable = Engine.executablePath(fallback: CommandLine.arguments[0])
        var args = [executable]
        if let file = configuration.configFile { args += ["--config", file] }
        args += ["--stanza", configuration.stanza, "archiver", "--data-directory", dataDirectory]
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        cargs.append(nil)
        defer { cargs.forEach { free($0) } }
        _ = cargs.withUnsafeBufferPointer { tidemark_spawn_detached(executable, $0.baseAddress, -1) }
    }
}
