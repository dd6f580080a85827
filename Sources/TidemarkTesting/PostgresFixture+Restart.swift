import Foundation

extension PostgresFixture {
    /// Starts the server again after `stop()` (same data directory, port and configuration),
    /// for tests of what happens while it is down and after it is back.
    public func start() async throws {
        guard running.withLock({ $0 }) == false else { return }
        try await ChildProcess.run(
            Command(binDirectory + "/pg_ctl", ["start", "-w", "-t", "60", "-D", dataDirectory, "-l", logFile],
                    environment: environment, user: user, timeout: options.timeout)
        ).checked()
        running.withLock { $0 = true }
        _ = try await psql("select 1")
    }
}
