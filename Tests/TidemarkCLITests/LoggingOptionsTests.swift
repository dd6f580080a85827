import ArgumentParser
import Logging
import Testing
import TidemarkCore
@testable import tidemark

/// `--log-level`, `--log-format`, `TIDEMARK_LOG_LEVEL` and `TIDEMARK_LOG_FORMAT`.
@Suite("CLI: log options")
struct LoggingOptionsTests {
    func settings(_ args: [String], environment: [String: String] = [:]) throws -> LogSettings {
        let command = try TidemarkCommand.parseAsRoot(GlobalOptionPlacement.normalize(args))
        return try LogSettings.forCommand(command, environment: { environment[$0] })
    }

    /// The default writes nothing new: only warnings and worse, as text.
    @Test func theDefaultIsWarningAsText() throws {
        #expect(try settings(["info"]) == LogSettings(level: .warning, format: .text))
        #expect(try settings(["info"], environment: ["TIDEMARK_LOG_LEVEL": ""]) == LogSettings(level: .warning, format: .text))
    }

    @Test(arguments: Logger.Level.allCases)
    func everyLevelIsAccepted(level: Logger.Level) throws {
        #expect(try settings(["list", "--log-level", level.rawValue]).level == level)
        #expect(try settings(["--log-level=\(level.rawValue.uppercased())", "list"]).level == level)
        #expect(try settings(["list"], environment: ["TIDEMARK_LOG_LEVEL": level.rawValue]).level == level)
    }

    @Test func theFlagWinsOverTheEnvironment() throws {
        let environment = ["TIDEMARK_LOG_LEVEL": "trace", "TIDEMARK_LOG_FORMAT": "json"]
        #expect(try settings(["plan", "--log-level", "error", "--log-format", "text"], environment: environment)
            == LogSettings(level: .error, format: .text))
        #expect(try settings(["plan"], environment: environment) == LogSettings(level: .trace, format: .json))
        // The flags are resolved before anything of the environment is read: a bad variable
        // does not matter when the flag is given.
        #expect(try settings(["plan", "--log-level", "info"], environment: ["TIDEMARK_LOG_LEVEL": "loud"]).level == .info)
    }

    @Test func anInvalidFlagIsAUsageErrorNamingTheValidValues() {
        for args in [["info", "--log-level", "verbose"], ["info", "--log-format", "xml"]] {
            #expect(throws: (any Error).self) { try settings(args) }
            guard case .invalid(let error) = Entry.parse(args) else {
                Issue.record("\(args) accepted")
                continue
            }
            #expect(Entry.status(for: error, arguments: args) == 64)
            let message = TidemarkCommand.fullMessage(for: error)
            #expect(message.contains(args[2]), "\(message)")
            #expect(message.contains(args[1] == "--log-level" ? "- critical" : "'json'"), "\(message)")
        }
    }

    /// A bad variable is a configuration error (exit 3, like any other bad TIDEMARK_*
    /// variable; 126 for wal-fetch), naming the variable and the valid values.
    @Test func anInvalidVariableIsAConfigurationError() throws {
        do {
            _ = try settings(["info"], environment: ["TIDEMARK_LOG_LEVEL": "verbose"])
            Issue.record("accepted")
        } catch let error as TidemarkError {
            #expect(error.code == .configuration)
            #expect(ExitStatus.code(for: error) == 3)
            #expect(error.message.contains("TIDEMARK_LOG_LEVEL 'verbose'"), "\(error)")
            #expect(error.hints.joined().contains("trace, debug, info, notice, warning, error, critical"), "\(error)")
        }
        do {
            _ = try LogSettings.resolve(level: nil, format: nil, environment: { $0 == "TIDEMARK_LOG_FORMAT" ? "yaml" : nil })
            Issue.record("accepted")
        } catch {
            #expect(error.code == .configuration)
            #expect(error.message.contains("TIDEMARK_LOG_FORMAT 'yaml'"), "\(error)")
            #expect(error.hints.joined().contains("text, json"), "\(error)")
        }
    }

    /// A bad variable stops the command before it runs, with the command's own status and
    /// hints: 3 (within 1-125 for archive_command), 126 for restore_command.
    @Test func aBadVariableStopsTheCommandWithItsStatus() async {
        let bad = Result<LogSettings, TidemarkError>.failure(TidemarkError(.configuration, "TIDEMARK_LOG_LEVEL 'x' is not a log level"))
        #expect(await ProcessLogging.start(bad, command: "info", fetch: false) == 3)
        #expect(await ProcessLogging.start(bad, command: "wal-push", fetch: false) == 3)
        #expect(await ProcessLogging.start(bad, command: "wal-fetch", fetch: true) == 126)
    }

    /// The bare `tidemark` (no command) never fails for a variable.
    @Test func aCommandWithoutGlobalOptionsUsesTheDefaults() throws {
        let settings = try LogSettings.forCommand(TidemarkCommand(), environment: { _ in "nonsense" })
        #expect(settings == LogSettings())
    }

    /// Every command that takes the global options tells Entry its log settings.
    @Test func everyCommandWithGlobalOptionsIsListed() {
        for command in TidemarkCommand.configuration.subcommands {
            let takesGlobals = command.helpMessage(includeHidden: true).contains("--stanza")
            #expect(!takesGlobals || command is any CommandWithGlobalOptions.Type, "\(command._commandName) is not a CommandWithGlobalOptions")
        }
    }

    /// `tidemark --log-level debug info` and `tidemark info --log-level debug` are one command.
    @Test func theLogOptionsMayComeBeforeTheCommand() {
        #expect(GlobalOptionPlacement.normalize(["--log-level", "debug", "--log-format=json", "info", "--json"])
            == ["info", "--log-level", "debug", "--log-format=json", "--json"])
    }

    /// The hook the engine gets: a logger with the process's level.
    @Test func makeLoggerUsesTheSettings() {
        #expect(makeLogger(label: "tidemark.test").logLevel == ProcessLogging.settings.level)
    }
}
