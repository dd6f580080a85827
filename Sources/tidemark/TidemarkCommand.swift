import ArgumentParser
import CTidemarkSupport
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
            + "BACKUP_DIR and BACKUP_ENCRYPTION_KEY / BACKUP_ENCRYPTION_KEY_FILE suffice without a file. Exit codes: docs/exit-codes.md.",
        version: "tidemark 0.1.0 (repository format 1)",
        subcommands: [InitCommand.self, InfoCommand.self, WALPushCommand.self, WALFetchCommand.self, WALPrefetchCommand.self, ListCommand.self, PlanCommand.self, RestoreCommand.self, ReindexCommand.self, BackupCommand.self, CheckCommand.self, RehearseCommand.self]
    )
}

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (JSON).")
    var config: String?

    @Option(name: .long, help: "Stanza (cluster) name; default 'main'.")
    var stanza: String?

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
        case .busy: return 13
        default: return 7
        }
    }
    static let walFetchFailure: Int32 = 126
    /// `rehearse`: the rehearsal ran and failed (the report says why).
    static let rehearsalFailed: Int32 = 11
}

/// Runs a command body, printing errors as one line plus hints and mapping them to exit codes.
func run(_ command: String, fetch: Bool = false, _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as TidemarkError {
        if fetch && error.code == .notFound { throw ExitCode(1) }
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
        if let invocation = ArchiveFastPath.parse(Array(CommandLine.arguments.dropFirst())) {
            exit(await ArchiveFastPath.run(invocation))
        }
        let isFetch = CommandLine.arguments.dropFirst().contains("wal-fetch")
        let arguments = GlobalOptionPlacement.normalize(Array(CommandLine.arguments.dropFirst()))
        if let (message, status) = UnknownCommand.check(arguments) {
            writeStderr(message)
            exit(status)
        }
        do {
            var command = try TidemarkCommand.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = TidemarkCommand.exitCode(for: error).rawValue
            // PostgreSQL reads restore_command exits 1-125 as "not archived": a usage error in
            // restore_command must stop recovery, not end it early.
            if isFetch && code != 0 && code != 1 && code < 126 {
                writeStderr(TidemarkCommand.fullMessage(for: error) + "\n")
                exit(ExitStatus.walFetchFailure)
            }
            TidemarkCommand.exit(withError: error)
        }
    }
}

/// DESIGN.md writes global options before the command (`tidemark --stanza s wal-push %p`);
/// ArgumentParser wants them after it. Moving them keeps both spellings working.
enum GlobalOptionPlacement {
    static let globals: Set<String> = ["--config", "--stanza"]

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
        // args[i] is the subcommand: put the globals right after it.
        return [args[i]] + leading + Array(args[(i + 1)...])
    }
}
