#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tidemark
import TidemarkCore
import TidemarkPolicy

/// A status snapshot read two ways: what the watchdog's rules observe, and what recovery can
/// do now (the sentence at the end of every failure message).
enum StatusOutlook {
    static func date(_ seconds: Double?) -> Date? { seconds.map { Date(timeIntervalSince1970: $0) } }

    /// The required repositories (all of them when none is marked required).
    static func required(_ s: StatusSnapshot) -> [RepositoryStatus] {
        let r = s.repositories.filter(\.required)
        return r.isEmpty ? s.repositories : r
    }

    /// The newest timeline's window ending at the RPO commit, in the first required repository that has one.
    static func window(_ s: StatusSnapshot) -> (start: Date, end: Date)? {
        for repo in required(s) {
            if let t = repo.timelines.filter({ $0.windowStart != nil && $0.windowEnd != nil }).max(by: { $0.timeline < $1.timeline }),
               let start = date(t.windowStart), let end = date(t.windowEnd) {
                return (start, end)
            }
        }
        return nil
    }

    static func newestBackup(_ s: StatusSnapshot) -> Date? {
        required(s).flatMap(\.newestBackups).map(\.finishedAt).max().map { Date(timeIntervalSince1970: $0) }
    }

    static func outlook(_ s: StatusSnapshot) -> RecoveryOutlook {
        let w = window(s)
        return RecoveryOutlook(newestBackup: newestBackup(s), pitrUntil: date(s.rpoCommitTime) ?? w?.end, windowStart: w?.start)
    }

    /// The outlook without a service loop (`run-job`): one probe.
    static func compute(engine: Engine) async -> RecoveryOutlook {
        outlook(await StatusProbe(engine: engine).probe())
    }

    static func observation(_ s: StatusSnapshot, configuration: Configuration, lastArchived: Date, now: Date) -> WatchdogObservation {
        let repos = required(s)
        let pitrDays = repos.compactMap { configuration.retention[$0.name]?.pitrDays }.min() ?? 0
        let storage = s.repositories.compactMap { r -> StorageUse? in
            guard let used = r.usedBytes else { return nil }
            // Free space measured by statvfs counts what other files take too: the capacity the
            // percentage is of is then used + free of this file system as seen by the service.
            let capacity = r.capacityBytes
            let taken = capacity.flatMap { c in r.freeBytes.map { c - $0 } } ?? used
            return StorageUse(repository: r.name, usedBytes: taken, capacityBytes: capacity)
        }
        return WatchdogObservation(
            now: now, lastSuccessfulBackup: newestBackup(s), lastArchived: lastArchived,
            unarchivedCompletedSegments: s.archive.segmentsBehind, readySegments: s.archive.readySegments,
            restorableWindow: window(s), promisedWindow: Double(pitrDays) * 86400,
            oldestBackup: repos.compactMap(\.oldestBackupFinishedAt).min().map { Date(timeIntervalSince1970: $0) },
            storage: storage, probeErrors: s.errors)
    }
}
