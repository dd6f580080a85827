import Foundation

/// What `pg_stat_archiver` says.
public struct ArchiverStatus: Sendable, CustomStringConvertible {
    public var archivedCount: Int
    public var lastArchivedWAL: String
    public var failedCount: Int
    public var lastFailedWAL: String

    public var description: String {
        "archived \(archivedCount) (last \(lastArchivedWAL.isEmpty ? "-" : lastArchivedWAL)), "
            + "failed \(failedCount) (last \(lastFailedWAL.isEmpty ? "-" : lastFailedWAL))"
    }
}

extension PostgresFixture {
    /// `<data>/pg_wal/archive_status`.
    public var archiveStatusDirectory: String { walDirectory + "/archive_status" }

    /// Writes a little WAL (so the switch is not a no-op), switches to a new segment and returns
    /// the name of the segment that was just completed.
    @discardableResult
    public func switchWAL() async throws -> String {
        let name = try await psql(
            """
            create table if not exists tidemark_switch (at timestamptz not null default now());
            insert into tidemark_switch default values;
            select pg_walfile_name(pg_switch_wal());
            """)
        guard WALNames.isSegmentName(name) else {
            throw TestingError(.unexpectedOutput, "pg_switch_wal returned '\(name)', not a segment name")
        }
        return name
    }

    /// Reads `pg_stat_archiver`.
    public func archiverStatus() async throws -> ArchiverStatus {
        let row = try await psql(
            """
            select archived_count, coalesce(last_archived_wal, ''), failed_count, coalesce(last_failed_wal, '')
            from pg_stat_archiver
            """)
        let fields = row.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 4, let archived = Int(fields[0]), let failed = Int(fields[2]) else {
            throw TestingError(.unexpectedOutput, "unexpected pg_stat_archiver row '\(row)'")
        }
        return ArchiverStatus(
            archivedCount: archived, lastArchivedWAL: fields[1], failedCount: failed, lastFailedWAL: fields[3])
    }

    /// Polls `pg_stat_archiver` until `last_archived_wal` reaches `segment` (same timeline:
    /// names order like positions). Throws `deadlineExceeded` with the archiver status and the
    /// server log when it does not happen within `timeout`, and at once (with the log, which
    /// holds `archive_command`'s stderr) when `failFast` is set and an attempt has failed.
    @discardableResult
    public func waitUntilArchived(
        _ segment: String, timeout: Duration = .seconds(120), failFast: Bool = true
    ) async throws -> ArchiverStatus {
        let deadline = ContinuousClock.now + timeout
        while true {
            let status = try await archiverStatus()
            if !status.lastArchivedWAL.isEmpty, WALNames.isSegmentName(status.lastArchivedWAL),
                status.lastArchivedWAL >= segment
            {
                return status
            }
            if failFast, status.failedCount > 0 {
                throw TestingError(
                    .processFailed, "archive_command failed while waiting for \(segment): \(status)\nserver log:\n\(serverLog())")
            }
            if ContinuousClock.now >= deadline {
                throw TestingError(
                    .deadlineExceeded,
                    "segment \(segment) was not archived within \(timeout): \(status)\nserver log:\n\(serverLog())")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Names of the segments in pg_wal that PostgreSQL has marked archived (`.done`), sorted.
    public func archivedSegmentsInWALDirectory() throws -> [String] {
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: archiveStatusDirectory)
        } catch {
            throw TestingError(.fileSystem, "unable to list '\(archiveStatusDirectory)': \(error)")
        }
        return entries.compactMap { entry -> String? in
            guard entry.hasSuffix(".done") else { return nil }
            let name = String(entry.dropLast(".done".count))
            guard WALNames.isSegmentName(name),
                FileManager.default.fileExists(atPath: walDirectory + "/" + name)
            else { return nil }
            return name
        }.sorted()
    }

    /// `pg_control_system().system_identifier`, as a decimal string.
    public func systemIdentifier() async throws -> String {
        try await psql("select system_identifier from pg_control_system()")
    }
}

/// WAL file-name arithmetic for the default 16 MiB segments (256 segments per xlogid), kept
/// independent of TidemarkCore so the tests do not trust the code they test.
public enum WALNames {
    /// 24 upper-case hexadecimal digits.
    public static func isSegmentName(_ name: String) -> Bool {
        name.utf8.count == 24 && name.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x46).contains($0) }
    }

    /// Every segment name from `first` through `last` (inclusive) on `first`'s timeline.
    public static func range(from first: String, through last: String, segmentSize: Int = 16 * 1024 * 1024) throws -> [String] {
        let perLog = UInt64(0x1_0000_0000) / UInt64(segmentSize)
        guard let (timeline, start) = parse(first, perLog: perLog), let (_, end) = parse(last, perLog: perLog),
            start <= end
        else {
            throw TestingError(.unexpectedOutput, "invalid segment range \(first) ... \(last)")
        }
        return (start...end).map { name(timeline: timeline, segment: $0, perLog: perLog) }
    }

    /// The segment after `name`.
    public static func next(after name: String, segmentSize: Int = 16 * 1024 * 1024) throws -> String {
        let perLog = UInt64(0x1_0000_0000) / UInt64(segmentSize)
        guard let (timeline, segment) = parse(name, perLog: perLog) else {
            throw TestingError(.unexpectedOutput, "invalid segment name \(name)")
        }
        return Self.name(timeline: timeline, segment: segment + 1, perLog: perLog)
    }

    private static func parse(_ name: String, perLog: UInt64) -> (UInt32, UInt64)? {
        guard isSegmentName(name) else { return nil }
        let digits = Array(name)
        guard let timeline = UInt32(String(digits[0..<8]), radix: 16),
            let log = UInt64(String(digits[8..<16]), radix: 16),
            let segment = UInt64(String(digits[16..<24]), radix: 16), segment < perLog
        else { return nil }
        return (timeline, log * perLog + segment)
    }

    private static func name(timeline: UInt32, segment: UInt64, perLog: UInt64) -> String {
        hex8(UInt64(timeline)) + hex8(segment / perLog) + hex8(segment % perLog)
    }

    private static func hex8(_ value: UInt64) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }
}
