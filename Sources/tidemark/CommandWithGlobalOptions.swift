import ArgumentParser
import TidemarkCore

/// A command that takes `GlobalOptions`: `Entry` reads its `--log-level` and `--log-format`
/// after parsing and before running it. Every command that has `@OptionGroup var global` is
/// listed here (CLILoggingTests checks that none is missing).
protocol CommandWithGlobalOptions: ParsableCommand {
    var global: GlobalOptions { get }
}

extension InitCommand: CommandWithGlobalOptions {}
extension InfoCommand: CommandWithGlobalOptions {}
extension WALPushCommand: CommandWithGlobalOptions {}
extension WALFetchCommand: CommandWithGlobalOptions {}
extension WALPrefetchCommand: CommandWithGlobalOptions {}
extension ArchiverCommand: CommandWithGlobalOptions {}
extension ListCommand: CommandWithGlobalOptions {}
extension PlanCommand: CommandWithGlobalOptions {}
extension RestoreCommand: CommandWithGlobalOptions {}
extension ReindexCommand: CommandWithGlobalOptions {}
extension BackupCommand: CommandWithGlobalOptions {}
extension CheckCommand: CommandWithGlobalOptions {}
extension RehearseCommand: CommandWithGlobalOptions {}
extension ExpireCommand: CommandWithGlobalOptions {}
extension DeleteCommand: CommandWithGlobalOptions {}
extension PinCommand: CommandWithGlobalOptions {}
extension UnpinCommand: CommandWithGlobalOptions {}
extension VerifyCommand: CommandWithGlobalOptions {}
extension KeyChangeCommand: CommandWithGlobalOptions {}
extension KeyAddCommand: CommandWithGlobalOptions {}
extension KeyListCommand: CommandWithGlobalOptions {}
extension KeyRemoveCommand: CommandWithGlobalOptions {}
extension ServeCommand: CommandWithGlobalOptions {}
extension ScheduleCommand: CommandWithGlobalOptions {}
extension RunJobCommand: CommandWithGlobalOptions {}
extension NotifyTestCommand: CommandWithGlobalOptions {}
extension AuditListCommand: CommandWithGlobalOptions {}
extension AuditVerifyCommand: CommandWithGlobalOptions {}

extension LogSettings {
    /// The logging a parsed command runs with: its flags, else the environment. A command
    /// without global options (the bare `tidemark`) never fails for a bad variable.
    static func forCommand(_ command: any ParsableCommand,
                           environment: (String) -> String? = ProcessLogging.environmentVariable) throws(TidemarkError) -> LogSettings {
        if let command = command as? any CommandWithGlobalOptions {
            return try command.global.logging.settings(environment: environment)
        }
        return (try? resolve(level: nil, format: nil, environment: environment)) ?? LogSettings()
    }
}
