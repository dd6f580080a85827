#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCore

/// The file backup a backup job runs after its database backup (`includeFiles`, in the
/// schedule and in the API's backup request): `tidemark files backup` of the same type,
/// recording the database backup it belongs to (docs/files.md).
public struct FilesFollowUp: Sendable, Hashable {
    /// full re-reads every file; incremental skips files unchanged since the last snapshot.
    public var full: Bool

    public init(full: Bool) { self.full = full }

    /// The command line after the global options.
    public func arguments(databaseBackup id: String) -> [String] {
        ["files", "backup", "--type", full ? "full" : "incremental", "--database-backup", id]
    }
}

extension ServiceJob {
    /// The file backup that follows this job's database backup, if it asks for one.
    public var filesFollowUp: FilesFollowUp? {
        guard includeFiles, case .backup(let full, _) = kind else { return nil }
        return FilesFollowUp(full: full)
    }
}

extension JobRunner {
    /// Runs the file backup after a database backup that succeeded (`result`), still under
    /// the host's job lock and the job's deadline. The job's outcome becomes the file backup's;
    /// a failure keeps the backup id (the database backup stands) and says so first.
    func runFiles(_ files: FilesFollowUp, into result: inout JobResult, deadline: ContinuousClock.Instant,
                  stop: StopFlag, now: @Sendable () -> Date, onStart: @Sendable (Int32) async -> Void) async {
        let database = result.output
        guard let id = result.backupID else {
            result.outcome = .failed
            result.error = "the database backup succeeded but printed no backup id: the file backup (includeFiles) did not run"
            result.hints = ["run it by hand: tidemark files backup --database-backup ID (the id from tidemark list)"]
            return
        }
        var step = result
        _ = await runChild(files.arguments(databaseBackup: id), into: &step, deadline: deadline, stop: stop, now: now, onStart: onStart)
        result.finished = step.finished
        result.outcome = step.outcome
        result.exitCode = step.exitCode
        result.output = Self.tail(database, lines: 10) + "\n" + Self.tail(step.output, lines: 10)
        guard step.outcome != .succeeded else { return }
        result.error = "database backup \(id) succeeded; the file backup failed: " + (step.error ?? "no reason given")
        result.hints = step.hints
    }
}
