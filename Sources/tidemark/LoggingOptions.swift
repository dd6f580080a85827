import ArgumentParser
import Logging
import Synchronization
import TidemarkCore
#if canImport(Glibc)
import Glibc
#endif

/// How log lines are written on stderr (docs/configuration.md#logging).
enum LogFormat: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// `LEVEL label: message key=value ...`
    case text
    /// One JSON object per line: time, level, label, message, metadata.
    case json

    init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension Logger.Level: @retroactive ExpressibleByArgument {
    /// `warning`, `WARNING` and `Warning` all name `.warning`.
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// `--log-level` and `--log-format`, part of every command's `GlobalOptions`. The flags win
/// over `TIDEMARK_LOG_LEVEL` / `TIDEMARK_LOG_FORMAT`; without either, `warning` and `text`:
/// nothing the engine logs below warning reaches stderr, so a command's output is what it was
/// before logging existed.
struct LoggingOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Log messages at this level and above on stderr (default: TIDEMARK_LOG_LEVEL, else warning).",
        valueName: "level"))
    var logLevel: Logger.Level?

    @Option(name: .long, help: ArgumentHelp(
        "Log lines as text (LEVEL label: message key=value ...) or as one JSON object each (default: TIDEMARK_LOG_FORMAT, else text).",
        valueName: "text|json"))
    var logFormat: LogFormat?

    /// The settings these flags and the process environment give.
    func settings(environment: (String) -> String? = ProcessLogging.environmentVariable) throws(TidemarkError) -> LogSettings {
        try LogSettings.resolve(level: logLevel, format: logFormat, environment: environment)
    }
}

/// The logging a process runs with: a threshold and a line format.
struct LogSettings: Equatable, Sendable {
    static let levelVariable = "TIDEMARK_LOG_LEVEL"
    static let formatVariable = "TIDEMARK_LOG_FORMAT"
    static let defaultLevel = Logger.Level.warning

    var level: Logger.Level = LogSettings.defaultLevel
    var format: LogFormat = .text

    /// Flags first, then the environment, then the defaults. A variable that names no level or
    /// format is a configuration error (exit 3; 126 for wal-fetch) naming the valid values: a
    /// typo must not silently hide the messages someone asked for.
    static func resolve(level: Logger.Level?, format: LogFormat?,
                        environment: (String) -> String?) throws(TidemarkError) -> LogSettings {
        var settings = LogSettings()
        if let level {
            settings.level = level
        } else if let text = nonEmpty(environment(levelVariable)) {
            guard let parsed = Logger.Level(argument: text) else {
                throw TidemarkError(.configuration, "\(levelVariable) '\(text)' is not a log level", hints: [
                    "use one of " + Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
                        + ", or unset it (default \(defaultLevel.rawValue))",
                ])
            }
            settings.level = parsed
        }
        if let format {
            settings.format = format
        } else if let text = nonEmpty(environment(formatVariable)) {
            guard let parsed = LogFormat(argument: text) else {
                throw TidemarkError(.configuration, "\(formatVariable) '\(text)' is not a log format", hints: [
                    "use one of " + LogFormat.allCases.map(\.rawValue).joined(separator: ", ") + ", or unset it (default text)",
                ])
            }
            settings.format = parsed
        }
        return settings
    }

    private static func nonEmpty(_ text: String?) -> String? {
        guard let text, !text.isEmpty else { return nil }
        return text
    }

    /// A handler with these settings for a logger named `label`, writing to `sink`.
    func makeHandler(label: String, sink: LogSink = .standardError) -> TidemarkLogHandler {
        TidemarkLogHandler(label: label, level: level, format: format, sink: sink)
    }
}

/// The process's logging, set up once before any command runs.
enum ProcessLogging {
    private static let current = Mutex<LogSettings?>(nil)

    /// Installs `settings` as the process's logging (`LoggingSystem.bootstrap`). The first call
    /// wins; later calls change nothing (swift-log allows one bootstrap per process).
    static func start(_ settings: LogSettings) {
        let first = current.withLock { current -> Bool in
            guard current == nil else { return false }
            current = settings
            return true
        }
        guard first else { return }
        LoggingSystem.bootstrap { label in settings.makeHandler(label: label) }
    }

    /// Starts logging with `settings` before `command` runs; nil when it did, else the exit
    /// status after the error was reported as the command's own (so a bad variable gives
    /// wal-push its retry hint and wal-fetch 126).
    static func start(_ settings: Result<LogSettings, TidemarkError>, command: String, fetch: Bool) async -> Int32? {
        switch settings {
        case .success(let settings):
            start(settings)
            return nil
        case .failure(let error):
            return await failed(error, command: command, fetch: fetch)
        }
    }

    /// The exit status of `command` after `error` (settings that do not resolve) was reported
    /// as the command's own.
    static func failed(_ error: TidemarkError, command: String, fetch: Bool) async -> Int32 {
        do {
            try await Tidemark_run(command, fetch: fetch) { throw error }
        } catch let code as ExitCode {
            return code.rawValue
        } catch {}
        return fetch ? ExitStatus.walFetchFailure : ExitStatus.code(for: error)
    }

    /// The settings in force: those given to `start`, else the defaults.
    static var settings: LogSettings { current.withLock { $0 } ?? LogSettings() }

    /// `getenv`, without building the whole environment (wal-push's start-up counts).
    @Sendable static func environmentVariable(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }
}

/// The logger a command hands to the engine (`Engine(configuration:logger:)`): the process's
/// handler, level and format, whether or not `ProcessLogging.start` has run yet.
func makeLogger(label: String = "tidemark") -> Logger {
    let settings = ProcessLogging.settings
    return Logger(label: label) { label in settings.makeHandler(label: label) }
}
