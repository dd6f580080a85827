import Foundation
import Testing
@testable import TidemarkServer

/// A snapshot with every value known: two repositories, two timelines, both backup types.
func sampleSnapshot(takenAt: Double = 1_800_000_000) -> StatusSnapshot {
    let local = RepositoryStatus(
        name: "local", type: "posix", required: true, reachable: true, usedBytes: 5_000, freeBytes: 95_000, capacityBytes: 100_000,
        walSegmentSize: 1 << 20, newestSegment: "000000020000000000000009", newestCommitTime: takenAt - 42,
        timelines: [TimelineStatus(timeline: 1, newestSegment: "000000010000000000000005", windowStart: takenAt - 7200,
                                   windowEnd: takenAt - 3600, windowBackup: "20260101T000000F", gaps: 0),
                    TimelineStatus(timeline: 2, newestSegment: "000000020000000000000009", windowStart: takenAt - 3000,
                                   windowEnd: takenAt - 42, windowBackup: "20260101T000000F", gaps: 2)],
        newestBackups: [BackupStatus(type: "full", id: "20260101T000000F", finishedAt: takenAt - 7200, durationSeconds: 61.5, storedBytes: 4_000),
                        BackupStatus(type: "incremental", id: "20260101T010000F_20260101T020000I", finishedAt: takenAt - 600,
                                     durationSeconds: 3.25, storedBytes: 400)])
    let offsite = RepositoryStatus(name: "offsite", type: "s3", required: false, reachable: true, usedBytes: 6_000, freeBytes: 4_000,
                                   capacityBytes: 10_000, newestCommitTime: takenAt - 99)
    return StatusSnapshot(stanza: "main", takenAt: takenAt, repositories: [local, offsite], rpoSeconds: 42, rpoCommitTime: takenAt - 42,
                          archive: ArchiveStatus(readySegments: 3, oldestReady: "000000020000000000000007", segmentsBehind: 1, serverFailedCount: 5))
}

/// The value of the series `name{labels}` in `text`, or nil when it is not there. Labels must
/// be given in the order the registry writes them (stanza first, then as recorded).
func sample(_ text: String, _ name: String, _ labels: [(String, String)]) -> Double? {
    let head = labels.isEmpty ? name : name + "{" + labels.map { "\($0.0)=\"\($0.1)\"" }.joined(separator: ",") + "}"
    for line in text.split(separator: "\n") where line.hasPrefix(head + " ") {
        return Double(line.dropFirst(head.count + 1))
    }
    return nil
}

@Suite("Service metrics")
struct ServiceMetricsTests {
    @Test func everyMetricIsExportedAfterAnUpdateAndTheRecords() {
        let metrics = ServiceMetrics(stanza: "main")
        metrics.update(from: sampleSnapshot())
        metrics.recordJob(name: "full", outcome: "succeeded")
        metrics.recordVerify(success: Date(timeIntervalSince1970: 1_799_000_000))
        metrics.recordRehearsal(rto: 321.5, at: Date(timeIntervalSince1970: 1_798_000_000))
        metrics.recordNotificationFailure(channel: "slack")
        let text = metrics.render()
        for name in ServiceMetrics.names {
            #expect(text.contains("# TYPE \(name) "), "\(name) missing from:\n\(text)")
        }
        for name in ["tidemark_rpo_seconds", "tidemark_archive_backlog_segments", "tidemark_archive_failures_total",
                     "tidemark_backup_last_success_timestamp_seconds", "tidemark_backup_last_duration_seconds",
                     "tidemark_backup_last_size_bytes", "tidemark_pitr_window_start_timestamp_seconds", "tidemark_wal_gaps",
                     "tidemark_verify_last_success_timestamp_seconds", "tidemark_rehearsal_last_rto_seconds",
                     "tidemark_rehearsal_last_success_timestamp_seconds", "tidemark_repository_bytes",
                     "tidemark_repository_free_bytes", "tidemark_job_runs_total", "tidemark_notification_failures_total", "tidemark_up"] {
            #expect(ServiceMetrics.names.contains(name), "the issue's \(name) is not exported")
        }
    }

    /// With the resident archiver in the service, the backlog is its count of ready files not
    /// yet durable, whatever the snapshot's .ready count says.
    @Test func theArchiversBacklogReplacesTheReadyCount() {
        let metrics = ServiceMetrics(stanza: "main")
        metrics.recordArchiverBacklog(7)
        #expect(sample(metrics.render(), "tidemark_archive_backlog_segments", [("stanza", "main")]) == 7)
        metrics.update(from: sampleSnapshot())
        #expect(sample(metrics.render(), "tidemark_archive_backlog_segments", [("stanza", "main")]) == 7)
        metrics.recordArchiverBacklog(0)
        #expect(sample(metrics.render(), "tidemark_archive_backlog_segments", [("stanza", "main")]) == 0)
    }

    @Test func valuesAndLabels() {
        let metrics = ServiceMetrics(stanza: "main")
        metrics.update(from: sampleSnapshot())
        metrics.recordJob(name: "full", outcome: "failed")
        metrics.recordJob(name: "full", outcome: "failed")
        metrics.recordNotificationFailure(channel: "email")
        let text = metrics.render()
        let t = 1_800_000_000.0
        #expect(sample(text, "tidemark_up", [("stanza", "main")]) == 1)
        #expect(sample(text, "tidemark_rpo_seconds", [("stanza", "main")]) == 42)
        #expect(sample(text, "tidemark_archive_backlog_segments", [("stanza", "main")]) == 3)
        #expect(sample(text, "tidemark_archive_failures_total", [("stanza", "main")]) == 5)
        let local = [("stanza", "main"), ("repository", "local")]
        #expect(sample(text, "tidemark_repository_bytes", local) == 5_000)
        #expect(sample(text, "tidemark_repository_free_bytes", local) == 95_000)
        #expect(sample(text, "tidemark_repository_free_bytes", [("stanza", "main"), ("repository", "offsite")]) == 4_000)
        #expect(sample(text, "tidemark_backup_last_success_timestamp_seconds", local + [("type", "full")]) == t - 7200)
        #expect(sample(text, "tidemark_backup_last_duration_seconds", local + [("type", "incremental")]) == 3.25)
        #expect(sample(text, "tidemark_backup_last_size_bytes", local + [("type", "full")]) == 4_000)
        #expect(sample(text, "tidemark_pitr_window_start_timestamp_seconds", local + [("timeline", "2")]) == t - 3000)
        #expect(sample(text, "tidemark_pitr_window_end_timestamp_seconds", local + [("timeline", "1")]) == t - 3600)
        #expect(sample(text, "tidemark_wal_gaps", local + [("timeline", "2")]) == 2)
        #expect(sample(text, "tidemark_job_runs_total", [("stanza", "main"), ("job", "full"), ("outcome", "failed")]) == 2)
        #expect(sample(text, "tidemark_notification_failures_total", [("stanza", "main"), ("channel", "email")]) == 1)
    }

    /// What the next snapshot no longer knows disappears; nothing unknown is shown as 0.
    @Test func unknownValuesAndVanishedSeriesAreNotExported() {
        let metrics = ServiceMetrics(stanza: "main")
        metrics.update(from: sampleSnapshot())
        var next = sampleSnapshot(takenAt: 1_800_000_060)
        next.rpoSeconds = nil
        next.archive.readySegments = nil
        next.repositories[0].timelines.removeLast()
        next.repositories[1] = RepositoryStatus(name: "offsite", type: "s3", required: false, reachable: false, error: "down")
        metrics.update(from: next)
        let text = metrics.render()
        #expect(sample(text, "tidemark_rpo_seconds", [("stanza", "main")]) == nil)
        #expect(sample(text, "tidemark_archive_backlog_segments", [("stanza", "main")]) == nil)
        #expect(sample(text, "tidemark_wal_gaps", [("stanza", "main"), ("repository", "local"), ("timeline", "2")]) == nil)
        #expect(sample(text, "tidemark_wal_gaps", [("stanza", "main"), ("repository", "local"), ("timeline", "1")]) == 0)
        #expect(sample(text, "tidemark_repository_bytes", [("stanza", "main"), ("repository", "offsite")]) == nil)
        // An optional repository down does not make the service "down".
        #expect(sample(text, "tidemark_up", [("stanza", "main")]) == 1)
        next.repositories[0].error = "unreadable"
        metrics.update(from: next)
        #expect(sample(metrics.render(), "tidemark_up", [("stanza", "main")]) == 0)
    }

    /// pg_stat_archiver's failed_count becomes a counter that only grows: increases are added,
    /// a statistics reset starts over from what the server says.
    @Test func archiveFailuresFollowTheServerCountAndTheServiceRecords() {
        let metrics = ServiceMetrics(stanza: "main")
        var s = sampleSnapshot()
        func total() -> Double? { sample(metrics.render(), "tidemark_archive_failures_total", [("stanza", "main")]) }
        s.archive.serverFailedCount = 5
        metrics.update(from: s)
        #expect(total() == 5)
        metrics.update(from: s)
        #expect(total() == 5)
        s.archive.serverFailedCount = 8
        metrics.update(from: s)
        #expect(total() == 8)
        s.archive.serverFailedCount = 1  // pg_stat_reset_shared('archiver')
        metrics.update(from: s)
        #expect(total() == 9)
        metrics.recordArchiveFailure()
        #expect(total() == 10)
        s.archive.serverFailedCount = nil
        metrics.update(from: s)
        #expect(total() == 10)
    }
}
