import ArgumentParser
import CTidemarkSupport
import Logging
import Tidemark
#if canImport(Glibc)
import Glibc
#endif
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCore

struct TidemarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tidemark",
        abstract: "PostgreSQL continuous archiving and point-in-time recovery.",
        discussion: "Configuration: --config FILE, else TIDEMARK_CONFIG, else /etc/tidemark/tidemark.json; "
            + "BACKUP_DIR and BACKUP_ENCRYPTION_KEY / BACKUP_ENCRYPTION_KEY_FILE suffice without a file. "
            + "Every command takes --config, --stanza, --log-level (trace, debug, info, notice, warning, error, critical; "
            + "else TIDEMARK_LOG_LEVEL, else warning) and --log-format (text or json; else TIDEMARK_LOG_FORMAT, else text), "
            + "before or after the command name. Exit codes: docs/exit-codes.md.",
        version: "tidemark 0.1.0 (repository format 2)",
        subcommands: [InitCommand.self, InfoCommand.self, WALPushCommand.self, WALFetchCommand.self, WALPrefetchCommand.self, ArchiverCommand.self, ListCommand.self, PlanCommand.self, RestoreCommand.self, ReindexCommand.self, BackupCommand.self, CheckCommand.self, RehearseCommand.self, FilesCommand.self, ExpireCommand.self, DeleteCommand.self, PinCommand.self, UnpinCommand.self, VerifyCommand.self, KeyCommand.self, ServeCommand.self, ScheduleCommand.self, RunJobCommand.self, NotifyCommand.self, AuditCommand.self, TokenCommand.self]
    )
}

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (JSON).")
    var config: String?

    @Option(name: .long, help: "Stanza (cluster) name; default 'main'.")
    var stanza: String?

    @OptionGroup var logging: LoggingOptions

    /// The logger to hand to the engine (`Engine(configuration:logger:)`): the process's
    /// `--log-level` / `--log-format`, set up by `Entry` before the command runs.
    func logger(label: String = "tidemark") -> Logger { makeLogger(label: label) }

    func load() throws -> Configuration {
        try ConfigurationLoader.load(configPath: config, stanza: stanza, environment: ProcessEnvironment.current())
    }
}

enum ProcessEnvironment {
    static func current() -> [String: String] {
        var env: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") {
                env[String(s[..<eq])] = String(s[s.index(after: eq)...])
            }
            p += 1
        }
        return env
    }
}

/// Exit codes (docs/exit-codes.md). wal-push keeps every failure within 1-125;
/// wal-fetch uses 1 only for "not archived" and 126 for everything else.
enum ExitStatus {
    static func code(for error: TidemarkError) -> Int32 {
        switch error.code {
        case .notFound: return 1
        case .configuration: return 3
        case .wrongKey: return 4
        case .repository, .alreadyExists: return 5
        case .conflict: return 6
        case .io: return 7
        case .corrupt: return 8
        case .invalidInput: return 9
        case .unreachable: return 10
        case .verification: return 12
        case .busy: return 13
        default: return 7
        }
    }
    static let walFetchFailure: Int32 = 126
    /// `rehearse`: the rehearsal ran and failed (the report says why).
    static let rehearsalFailed: Int32 = 11

    /// The status for ArgumentParser's exit `code` (64 for a usage error, 0 for help):
    /// PostgreSQL reads restore_command exits 1-125 as "not archived", so a usage error in
    /// restore_command must stop recovery (126), not end it early.
    static func parseFailure(_ code: Int32, fetch: Bool) -> Int32 {
        fetch && code != 0 && code != 1 && code < 126 ? walFetchFailure : code
    }
}

/// Runs a command body, printing errors as one line plus hints and mapping them to exit codes.
func run(_ command: String, fetch: Bool = false, _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as TidemarkError {
        if fetch && error.code == .notFound { throw ExitCode(1) }
        AuditTrail.noteError(error.message)
        var error = error
        if command == "wal-push" {
            // Only archive_command's caller retries by itself; other commands must not say so.
            error.hints.append("nothing was reported as archived: PostgreSQL keeps the segment and runs archive_command again on its own")
        }
        printError(command, error)
        throw ExitCode(fetch ? ExitStatus.walFetchFailure : ExitStatus.code(for: error))
    } catch let error as ExitCode {
        throw error
    } catch {
        AuditTrail.noteError("\(error)")
        printError(command, TidemarkError(.io, "\(error)"))
        throw ExitCode(fetch ? ExitStatus.walFetchFailure : 7)
    }
}

func printError(_ command: String, _ error: TidemarkError) {
    var text = "tidemark \(command): ERROR: \(error.message)\n"
    for hint in error.hints { text += "HINT: \(hint)\n" }
    writeStderr(text)
}

func writeStderr(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
        if n <= 0 { break }
        offset += n
    }
}

@main
enum Entry {
    static func main() async {
        tidemark_tune_malloc()
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch parse(arguments) {
        case .fast(let invocation):
            exit(await ArchiveFastPath.run(invocation))
        case .unknownCommand(let message, let status):
            writeStderr(message)
            exit(status)
        case .invalid(let error):
            fail(error, arguments: arguments, timing: nil)
        case .command(var command):
            let settings = Result { () throws(TidemarkError) in try LogSettings.forCommand(command) }
            if let status = await ProcessLogging.start(settings, command: type(of: command)._commandName,
                                                       fetch: command is WALFetchCommand) {
                exit(status)
            }
            let timing = CommandTiming(type(of: command)._commandName)
            do {
                if var asyncCommand = command as? any AsyncParsableCommand {
                    try await asyncCommand.run()
                } else {
                    try command.run()
                }
                await AuditTrail.finished(command, status: 0)
                timing.finished(0)
            } catch {
                await AuditTrail.finished(command, status: status(for: error, arguments: arguments))
                fail(error, arguments: arguments, timing: timing)
            }
        }
    }

    /// What the command line asks for, before anything runs.
    enum Parsed {
        /// `wal-push` / `wal-fetch` in their plain forms, parsed without ArgumentParser.
        case fast(ArchiveFastPath.Invocation)
        /// The first word is no command (the message names the nearest one).
        case unknownCommand(message: String, status: Int32)
        /// ArgumentParser's error: a usage error, or a request for help or the version.
        case invalid(any Error)
        case command(any ParsableCommand)
    }

    static func parse(_ arguments: [String]) -> Parsed {
        if let invocation = ArchiveFastPath.parse(arguments) { return .fast(invocation) }
        let normalized = GlobalOptionPlacement.normalize(arguments)
        if let (message, status) = UnknownCommand.check(normalized) { return .unknownCommand(message: message, status: status) }
        do {
            return .command(try TidemarkCommand.parseAsRoot(normalized))
        } catch {
            return .invalid(error)
        }
    }

    static func isFetch(_ arguments: [String]) -> Bool { arguments.contains("wal-fetch") }

    /// The exit status for an error ArgumentParser reports (docs/exit-codes.md).
    static func status(for error: any Error, arguments: [String]) -> Int32 {
        ExitStatus.parseFailure(TidemarkCommand.exitCode(for: error).rawValue, fetch: isFetch(arguments))
    }

    static func fail(_ error: any Error, arguments: [String], timing: CommandTiming?) -> Never {
        let status = status(for: error, arguments: arguments)
        timing?.finished(status)
        if status != TidemarkCommand.exitCode(for: error).rawValue {
            writeStderr(TidemarkCommand.fullMessage(for: error) + "\n")
            exit(status)
        }
        TidemarkCommand.exit(withError: error)
    }
}

/// DESIGN.md writes global options before the command (`tidemark --stanza s wal-push %p`);
/// ArgumentParser wants them after it. Moving them keeps both spellings working.
enum GlobalOptionPlacement {
    static let globals: Set<String> = ["--config", "--stanza", "--log-level", "--log-format"]
    /// Commands whose subcommand is the second word (`tidemark key change`).
    static let groups: Set<String> = ["key", "audit", "notify", "token", "files"]

    static func normalize(_ args: [String]) -> [String] {
        var leading: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            let name = a.split(separator: "=", maxSplits: 1).first.map(String.init) ?? a
            guard globals.contains(name) else { break }
            leading.append(a)
            if !a.contains("="), i + 1 < args.count {
                leading.append(args[i + 1])
                i += 1
            }
            i += 1
        }
        guard !leading.isEmpty, i < args.count else { return args }
        // args[i] is the subcommand (with a group, args[i + 1] too): put the globals right after it.
        let words = groups.contains(args[i]) && i + 1 < args.count && !args[i + 1].hasPrefix("-") ? 2 : 1
        return Array(args[i..<(i + words)]) + leading + Array(args[(i + words)...])
    }
}
