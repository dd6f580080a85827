import ArgumentParser
import Tidemark
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCore

/// `tidemark restor --to x`: ArgumentParser reads an unknown first word as an argument and
/// blames the option that follows it ("unknown option '--to'"). The first word that is not an
/// option must be a command; when it is none, this says so and names the nearest one.
enum UnknownCommand {
    /// The message and exit status for `args` (global options already moved behind the
    /// command), or nil when the first word is a command or an option.
    static func check(_ args: [String]) -> (message: String, status: Int32)? {
        guard let first = args.first, !first.hasPrefix("-") else { return nil }
        let names = TidemarkCommand.configuration.subcommands.map { $0._commandName } + ["help"]
        guard !names.contains(first) else { return nil }
        let nearest = nearestName(to: first, in: names)
        var text = "tidemark: ERROR: unknown command '\(first)'\n"
        if let nearest { text += "HINT: did you mean '\(nearest)'?\n" }
        text += "HINT: `tidemark --help` lists the commands\n"
        // A misspelt restore_command must stop recovery, not end it early (docs/exit-codes.md).
        return (text, nearest == "wal-fetch" ? ExitStatus.walFetchFailure : ExitCode.validationFailure.rawValue)
    }
}
