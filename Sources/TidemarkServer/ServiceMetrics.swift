#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Prometheus
import Synchronization

/// The service's Prometheus metrics (docs/metrics.md) in one `PrometheusCollectorRegistry`,
/// no globals. Every series carries `stanza`; per-repository values also `repository`.
/// A value Tidemark does not know is not exported (no sample), never a made-up zero: series
/// that the latest snapshot no longer has (a timeline or repository gone, a value unknown) are
/// removed.
public final class ServiceMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let stanza: String

    private struct State {
        /// Series set from the last snapshot, by name: their label sets.
        var fromSnapshot: [String: Set<[String]>] = [:]
        /// The last `pg_stat_archiver.failed_count` seen, to add only what is new.
        var serverFailedCount: Int64?
        /// The resident archiver's count of ready files not yet durable, when it runs here.
        var archiverBacklog: Int?
    }
    private let state = Mutex(State())

    public init(stanza: String, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.stanza = stanza
    }

    /// Every metric's help text (one per name: the registry refuses two).
    static let help: [String: String] = [
        "tidemark_up": "1 when the last status probe read every required repository, else 0",
        "tidemark_rpo_seconds": "Seconds since the commit time of the newest WAL durable in every required repository",
        "tidemark_archive_backlog_segments": "WAL files waiting for archive_command (.ready files in pg_wal/archive_status)",
        "tidemark_archive_segments_behind": "Completed WAL segments the server wrote that are not archived in every required repository",
        "tidemark_archive_failures_total": "WAL archiving failures seen (pg_stat_archiver.failed_count increases, and failures the service recorded)",
        "tidemark_backup_last_success_timestamp_seconds": "Stop time of the newest complete backup of this type",
        "tidemark_backup_last_duration_seconds": "Duration of the newest complete backup of this type",
        "tidemark_backup_last_size_bytes": "Bytes the newest complete backup of this type added to the repository",
        "tidemark_pitr_window_start_timestamp_seconds": "Earliest instant from which recovery reaches the newest archived commit on this timeline",
        "tidemark_pitr_window_end_timestamp_seconds": "Newest archived commit on this timeline (the end of the restorable window)",
        "tidemark_wal_gaps": "Runs of missing WAL segments along this timeline's history",
        "tidemark_verify_last_success_timestamp_seconds": "When the last verify run that found nothing wrong ended",
        "tidemark_rehearsal_last_rto_seconds": "Restore plus replay time measured by the last successful rehearsal",
        "tidemark_rehearsal_last_success_timestamp_seconds": "When the last successful rehearsal ended",
        "tidemark_repository_bytes": "Bytes the stanza's objects take in the repository (WAL objects plus each backup's stored bytes)",
        "tidemark_repository_free_bytes": "Free bytes of the repository (statvfs, or the S3 quota minus what is used)",
        "tidemark_repository_capacity_bytes": "Size of the repository's file system, or its S3 quota",
        "tidemark_job_runs_total": "Scheduled job runs by job and outcome",
        "tidemark_notification_failures_total": "Notifications that could not be delivered after every retry, by channel",
    ]

    /// Every metric name this type can export.
    public static var names: [String] { help.keys.sorted() }

    private func gauge(_ name: String, _ labels: [(String, String)]) -> Gauge {
        registry.makeGauge(descriptor: Self.descriptor(name), labels: [("stanza", stanza)] + labels)
    }

    private func counter(_ name: String, _ labels: [(String, String)]) -> Counter {
        registry.makeCounter(descriptor: Self.descriptor(name), labels: [("stanza", stanza)] + labels)
    }

    private static func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help[name] ?? "")
    }

    /// Sets the snapshot's gauges and removes the series it no longer has.
    public func update(from snapshot: StatusSnapshot) {
        var values: [(String, [(String, String)], Double)] = []
        func put(_ name: String, _ labels: [(String, String)], _ value: Double?) {
            if let value { values.append((name, labels, value)) }
        }
        put("tidemark_up", [], snapshot.requiredRepositoriesRead ? 1 : 0)
        put("tidemark_rpo_seconds", [], snapshot.rpoSeconds)
        let archiverBacklog = state.withLock { $0.archiverBacklog }
        put("tidemark_archive_backlog_segments", [], (archiverBacklog ?? snapshot.archive.readySegments).map(Double.init))
        put("tidemark_archive_segments_behind", [], snapshot.archive.segmentsBehind.map(Double.init))
        for r in snapshot.repositories {
            let repo = ("repository", r.name)
            put("tidemark_repository_bytes", [repo], r.usedBytes.map(Double.init))
            put("tidemark_repository_free_bytes", [repo], r.freeBytes.map(Double.init))
            put("tidemark_repository_capacity_bytes", [repo], r.capacityBytes.map(Double.init))
            for b in r.newestBackups {
                let labels = [repo, ("type", b.type)]
                put("tidemark_backup_last_success_timestamp_seconds", labels, b.finishedAt)
                put("tidemark_backup_last_duration_seconds", labels, b.durationSeconds)
                put("tidemark_backup_last_size_bytes", labels, Double(b.storedBytes))
            }
            for t in r.timelines {
                let labels = [repo, ("timeline", String(t.timeline))]
                put("tidemark_pitr_window_start_timestamp_seconds", labels, t.windowStart)
                put("tidemark_pitr_window_end_timestamp_seconds", labels, t.windowEnd)
                put("tidemark_wal_gaps", labels, Double(t.gaps))
            }
        }
        var now: [String: Set<[String]>] = [:]
        for (name, labels, value) in values {
            gauge(name, labels).set(value)
            now[name, default: []].insert(labels.flatMap { [$0.0, $0.1] })
        }
        let (stale, newFailures) = state.withLock { (s: inout State) -> ([(String, [String])], Int64) in
            var stale: [(String, [String])] = []
            for (name, sets) in s.fromSnapshot {
                for labels in sets where now[name]?.contains(labels) != true { stale.append((name, labels)) }
            }
            s.fromSnapshot = now
            var added: Int64 = 0
            if let count = snapshot.archive.serverFailedCount {
                // A count below the last one: the server's statistics were reset; all of it is new.
                added = count - (s.serverFailedCount.map { count >= $0 ? $0 : 0 } ?? 0)
                s.serverFailedCount = count
            }
            return (stale, added)
        }
        for (name, flat) in stale {
            let labels = stride(from: 0, to: flat.count, by: 2).map { (flat[$0], flat[$0 + 1]) }
            registry.unregisterGauge(gauge(name, labels))
        }
        // Always present, so `rate()` sees the first failure.
        let failures = counter("tidemark_archive_failures_total", [])
        if newFailures > 0 { failures.increment(by: newFailures) }
    }

    /// One finished job run; `outcome` is `succeeded`, `failed`, `timed_out`, `cancelled` or `skipped`.
    public func recordJob(name: String, outcome: String) {
        counter("tidemark_job_runs_total", [("job", name), ("outcome", outcome)]).increment()
    }

    /// A verify run that found nothing wrong ended at `at`.
    public func recordVerify(success at: Date) {
        gauge("tidemark_verify_last_success_timestamp_seconds", []).set(at.timeIntervalSince1970)
    }

    /// A successful rehearsal ended at `at` after measuring `rto` seconds (restore + replay).
    public func recordRehearsal(rto: Double, at: Date) {
        gauge("tidemark_rehearsal_last_rto_seconds", []).set(rto)
        gauge("tidemark_rehearsal_last_success_timestamp_seconds", []).set(at.timeIntervalSince1970)
    }

    /// The resident archiver (running in this service) counts the ready files not yet durable
    /// (docs/archiver.md); the gauge shows that instead of the `.ready` count, at once.
    public func recordArchiverBacklog(_ count: Int) {
        state.withLock { $0.archiverBacklog = count }
        gauge("tidemark_archive_backlog_segments", []).set(Double(count))
    }

    /// An archiving failure the service saw itself (beyond what pg_stat_archiver says).
    public func recordArchiveFailure() {
        counter("tidemark_archive_failures_total", []).increment()
    }

    /// A notification given up on after every retry.
    public func recordNotificationFailure(channel: String) {
        counter("tidemark_notification_failures_total", [("channel", channel)]).increment()
    }

    /// The Prometheus text exposition format (version 0.0.4).
    public func render() -> String {
        registry.emitToString()
    }
}
