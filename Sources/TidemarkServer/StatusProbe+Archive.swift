#if canImport(Glibc)
import Glibc
#endif
import PostgresReplication
import Tidemark
import TidemarkCore
import TidemarkRepository
import TidemarkSystem

/// What the server says of its WAL: where it writes and how its archiver fares.
public struct ServerWALState: Sendable, Equatable {
    /// `pg_walfile_name(pg_current_wal_lsn())`; nil on a standby (it writes no WAL of its own).
    public var currentSegment: String?
    /// `pg_stat_archiver.failed_count`, `last_failed_wal`, `last_archived_wal`.
    public var failedCount: Int64
    public var lastFailedWAL: String?
    public var lastArchivedWAL: String?

    public init(currentSegment: String?, failedCount: Int64, lastFailedWAL: String? = nil, lastArchivedWAL: String? = nil) {
        self.currentSegment = currentSegment
        self.failedCount = failedCount
        self.lastFailedWAL = lastFailedWAL
        self.lastArchivedWAL = lastArchivedWAL
    }

    static let sql = """
        SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END, \
        failed_count, last_failed_wal, last_archived_wal FROM pg_stat_archiver
        """

    /// Asks the server over the engine's connection (libpq on its own thread, never on the
    /// cooperative pool), then closes it: one short query per probe.
    public static func query(_ engine: Engine) async throws -> ServerWALState {
        let connection = try await engine.connect()
        defer { connection.close() }
        let rows: [[String?]]
        do {
            rows = try await connection.simpleQuery(sql)
        } catch {
            throw TidemarkError.wrap(error, doing: "read pg_stat_archiver on \(connection.target)")
        }
        guard let row = rows.first, row.count == 4 else {
            throw TidemarkError(.io, "pg_stat_archiver on \(connection.target) returned no row")
        }
        return ServerWALState(currentSegment: row[0], failedCount: row[1].flatMap { Int64($0) } ?? 0,
                              lastFailedWAL: row[2], lastArchivedWAL: row[3])
    }
}

extension StatusProbe {
    /// The backlog (`.ready` files), then the server's position against the newest segment
    /// archived in every required repository.
    func readArchiveStatus(into snapshot: inout StatusSnapshot) async {
        if let dataDirectory {
            let directory = dataDirectory + "/pg_wal/archive_status"
            do {
                let ready = try await BlockingPool.shared.run("count .ready files") { try Self.readyFiles(in: directory) }
                snapshot.archive.readySegments = ready.count
                snapshot.archive.oldestReady = ready.first
            } catch {
                snapshot.errors["archive.ready"] = TidemarkError.wrap(error, doing: "count the .ready files in '\(directory)'").message
            }
        }
        let counted = snapshot.repositories.filter(\.required).isEmpty ? snapshot.repositories : snapshot.repositories.filter(\.required)
        let archived = counted.map { r in r.newestSegment.flatMap { WALSegmentName($0) } }
        let size = counted.compactMap(\.walSegmentSize).first.flatMap { WALSegmentSize(rawValue: $0) }
        if let size, !archived.isEmpty, archived.allSatisfy({ $0 != nil }) {
            snapshot.archive.archivedSegment = archived.compactMap { $0 }.min { ($0.segmentNumber(size: size) ?? 0) < ($1.segmentNumber(size: size) ?? 0) }?.description
        }
        guard let server else { return }
        do {
            let state = try await server()
            snapshot.archive.serverSegment = state.currentSegment
            snapshot.archive.serverFailedCount = state.failedCount
            snapshot.archive.lastFailedWAL = state.lastFailedWAL
            if let size, let current = state.currentSegment.flatMap({ WALSegmentName($0) })?.segmentNumber(size: size),
               let done = snapshot.archive.archivedSegment.flatMap({ WALSegmentName($0) })?.segmentNumber(size: size) {
                snapshot.archive.segmentsBehind = current > done ? Int(clamping: current - done - 1) : 0
            }
        } catch {
            snapshot.errors["server"] = TidemarkError.wrap(error, doing: "ask the server for its WAL position").message
        }
    }

    /// The segments (and history files) waiting in `archive_status`, oldest first.
    static func readyFiles(in directory: String) throws -> [String] {
        var st = stat()
        guard stat(directory, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw TidemarkError(.configuration, "'\(directory)' is not a directory",
                                hints: ["the data directory given to the service must be the server's PGDATA"])
        }
        guard access(directory, R_OK | X_OK) == 0 else {
            throw TidemarkError(.configuration, "'\(directory)' cannot be read by this user",
                                hints: ["run the service as the PostgreSQL server user (pg-conf/tidemark.service)"])
        }
        return FileIO.listNames(directory).filter { $0.hasSuffix(".ready") }.map { String($0.dropLast(".ready".count)) }.sorted()
    }
}
