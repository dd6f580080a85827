import ArgumentParser
import Logging
import TidemarkCore

/// PostgreSQL starts `wal-push` once per segment and `wal-fetch` once per file, so their
/// start-up counts (scripts/bench/wal-push.sh). ArgumentParser's reflective parsing costs a few
/// milliseconds per process in a binary this size; the plain forms of these two commands
/// (`[--config F] [--stanza S] [--log-level L] [--log-format F] wal-push PATH`,
/// `... wal-fetch [--repo R] NAME DEST`, global options before or after the command,
/// `--opt=value` or `--opt value`) are parsed here instead. Anything else — help, version, an
/// unknown or dash-leading argument, a log level or format that is not one — returns nil and
/// goes through ArgumentParser, which gives the usual usage errors.
enum ArchiveFastPath {
    struct Invocation: Equatable {
        var command: String
        var config: String?
        var stanza: String?
        var repo: String?
        var logLevel: Logger.Level?
        var logFormat: LogFormat?
        var positional: [String]
    }

    static func parse(_ args: [String]) -> Invocation? {
        var invocation = Invocation(command: "", positional: [])
        var i = 0
        while i < args.count {
            let a = args[i]
            if a.hasPrefix("-") {
                let parts = a.split(separator: "=", maxSplits: 1).map(String.init)
                let value: String
                if parts.count == 2 {
                    value = parts[1]
                } else {
                    guard i + 1 < args.count else { return nil }
                    value = args[i + 1]
                    i += 1
                }
                switch parts[0] {
                case "--config" where invocation.config == nil: invocation.config = value
                case "--stanza" where invocation.stanza == nil: invocation.stanza = value
                case "--repo" where invocation.repo == nil && invocation.command == "wal-fetch": invocation.repo = value
                case "--log-level" where invocation.logLevel == nil:
                    guard let level = Logger.Level(argument: value) else { return nil }
                    invocation.logLevel = level
                case "--log-format" where invocation.logFormat == nil:
                    guard let format = LogFormat(argument: value) else { return nil }
                    invocation.logFormat = format
                default: return nil
                }
            } else if invocation.command.isEmpty {
                guard a == "wal-push" || a == "wal-fetch" else { return nil }
                invocation.command = a
            } else {
                invocation.positional.append(a)
            }
            i += 1
        }
        switch invocation.command {
        case "wal-push": return invocation.positional.count == 1 ? invocation : nil
        case "wal-fetch": return invocation.positional.count == 2 ? invocation : nil
        default: return nil
        }
    }

    /// Runs the invocation; returns the exit status.
    static func run(_ invocation: Invocation) async -> Int32 {
        let timing = CommandTiming(invocation.command)
        let status = await runCommand(invocation)
        timing.finished(status)
        return status
    }

    private static func runCommand(_ invocation: Invocation) async -> Int32 {
        let fetch = invocation.command == "wal-fetch"
        // No Result<LogSettings, TidemarkError> here: its metadata costs a scan of every
        // protocol conformance in the binary at first use (about 0.25 ms of each wal-push).
        do throws(TidemarkError) {
            ProcessLogging.start(try LogSettings.resolve(level: invocation.logLevel, format: invocation.logFormat,
                                                         environment: ProcessLogging.environmentVariable))
        } catch {
            return await ProcessLogging.failed(error, command: invocation.command, fetch: fetch)
        }
        do {
            if fetch {
                try await ArchiveCommands.fetch(config: invocation.config, stanza: invocation.stanza, repo: invocation.repo,
                                                name: invocation.positional[0], destination: invocation.positional[1])
            } else {
                try await ArchiveCommands.push(config: invocation.config, stanza: invocation.stanza, path: invocation.positional[0])
            }
            return 0
        } catch let code as ExitCode {
            return code.rawValue
        } catch {
            // Tidemark_run turns every error into an ExitCode; this is a last resort.
            writeStderr("tidemark \(invocation.command): ERROR: \(error)\n")
            return fetch ? ExitStatus.walFetchFailure : 7
        }
    }
}
