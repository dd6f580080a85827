import PostgresReplication
import TidemarkBackup
import TidemarkCore

extension Engine {
    /// How long `files backup` waits for the database when it asks for a WAL position: a file
    /// backup must not hang on a database that is down (it does not need one).
    static let filesWALConnectTimeout = Duration.seconds(5)

    /// The server's WAL position now, for a file snapshot's `walStart`/`walEnd` (docs/files.md):
    /// `pg_current_wal_lsn()` on a primary, `pg_last_wal_replay_lsn()` on a standby, over the
    /// configuration's connection (the one `backup` and `check` use). Never throws: a database
    /// that cannot be reached or asked is the error, returned for one warning line.
    func filesWALPosition() async -> Result<LSN, TidemarkError> {
        let connection: ReplicationConnection
        do {
            connection = try await ReplicationConnection.connect(conninfo: configuration.conninfo, timeout: Self.filesWALConnectTimeout)
        } catch let e as ReplicationError {
            return .failure(TidemarkError.from(e, conninfoHint: ""))
        } catch {
            return .failure(TidemarkError(.io, "unable to connect to the database: \(error)"))
        }
        defer { connection.close() }
        do {
            let rows = try await connection.simpleQuery(
                "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END")
            guard let text = rows.first?.first ?? nil, let lsn = LSN(text) else {
                return .failure(TidemarkError(.io, "the server at \(connection.endpoint) reported no WAL position"))
            }
            return .success(lsn)
        } catch let e as ReplicationError {
            return .failure(TidemarkError.from(e, conninfoHint: ""))
        } catch {
            return .failure(TidemarkError(.io, "unable to read the WAL position at \(connection.endpoint): \(error)"))
        }
    }

    /// The warning `files backup` prints when a WAL position could not be recorded (one line).
    static func filesWALWarning(_ which: String, _ error: TidemarkError) -> String {
        let why = error.message.split(whereSeparator: { $0.isNewline || $0 == " " }).joined(separator: " ")
        return "the snapshot records no WAL \(which): the database could not be asked (\(why)); "
            + "the files are backed up all the same (asked over postgres.conninfo / PG*, the connection backup uses)"
    }
}
