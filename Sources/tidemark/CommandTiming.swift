import Logging

/// At debug level, one line when a command ends: which command, its exit status and how long
/// it took (for wal-push, the time PostgreSQL's archiver waited). Nothing at the default level.
struct CommandTiming {
    let command: String
    let started = ContinuousClock.now

    init(_ command: String) { self.command = command }

    func finished(_ status: Int32) {
        let elapsed = ContinuousClock.now - started
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        makeLogger().debug("command finished", metadata: [
            "command": "\(command)", "exit.status": "\(status)",
            "duration.ms": "\((milliseconds * 10).rounded() / 10)",
        ])
    }
}
