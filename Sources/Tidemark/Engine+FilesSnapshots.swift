#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCore
import TidemarkFiles

/// What `plan` and `info` say about file snapshots (docs/files.md): the snapshot a
/// `files restore --as-of` of the plan's target picks, and how many there are. Pure: the
/// snapshots are read by `Engine.filesSnapshotsForReport()`.
public enum FilesSnapshotNote {
    /// The line `plan` prints after the database plan, or nil when there is nothing to say
    /// (no file storage configured and no snapshot). `target` nil: a target that is not a time.
    public static func plan(snapshots: [FilesSnapshot], target: PostgresTimestamp?, latest: Bool, configured: Bool) -> String? {
        guard configured || !snapshots.isEmpty else { return nil }
        guard !snapshots.isEmpty else { return "files: no file snapshot yet (tidemark files backup)" }
        if let target {
            let at = target.unixMicroseconds * 1000
            let text = time(nanoseconds: at)
            guard let s = FilesSnapshot.newest(of: snapshots, atOrBefore: at) else {
                return "files: no file snapshot at or before \(text): the oldest is \(describe(snapshots[0]))"
            }
            return "files: snapshot \(describe(s)) will be restored with `tidemark files restore --to DIR --as-of '\(text)'`"
        }
        let newest = snapshots[snapshots.count - 1]
        if latest { return "files: the newest snapshot \(describe(newest)) is restored with `tidemark files restore --to DIR`" }
        return "files: the target is not a time; pick the snapshot with `tidemark files restore --as-of TIME` (newest: \(describe(newest)))"
    }

    /// `info`'s line: the count and the newest snapshot.
    public static func info(snapshots: [FilesSnapshot], repository: String) -> String {
        guard let newest = snapshots.last else { return "files [\(repository)]: no snapshots" }
        return "files [\(repository)]: \(snapshots.count) snapshot\(snapshots.count == 1 ? "" : "s"), newest \(describe(newest))"
    }

    static func describe(_ s: FilesSnapshot) -> String {
        "\(s.id) (\(time(nanoseconds: s.time)), \(s.kind.name)" + (s.databaseBackupID.map { ", with database backup \($0)" } ?? "") + ")"
    }

    /// `2026-12-01 14:30:00+00`: the form --target-time and --as-of take.
    static func time(nanoseconds: Int64) -> String {
        let date = Date(timeIntervalSince1970: Double(nanoseconds / 1_000_000_000))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ v: Int?) -> String { let n = v ?? 0; return n < 10 ? "0\(n)" : "\(n)" }
        return "\(c.year ?? 0)-\(two(c.month))-\(two(c.day)) \(two(c.hour)):\(two(c.minute)):\(two(c.second))+00"
    }
}

extension Engine {
    /// The file snapshots of the stanza, oldest first, from the first files repository that
    /// can be read, with that repository's name; nil when none can be read.
    public func filesSnapshotsForReport() async -> (repository: String, snapshots: [FilesSnapshot])? {
        guard let passphrase = configuration.encryptionKey else { return nil }
        for spec in filesRepositorySpecs {
            guard let repo = try? await openFilesRepository(spec, passphrase: passphrase),
                  let all = try? await FilesSnapshotStore(store: repo.store, key: repo.key, stanza: configuration.stanza).readAll() else { continue }
            return (spec.name, all)
        }
        return nil
    }

    /// `plan`'s line about file snapshots for `request`, or nil.
    public func filesPlanNote(for request: PlanRequest) async -> String? {
        let found = await filesSnapshotsForReport()
        guard configuration.files.isConfigured || found.map({ !$0.snapshots.isEmpty }) == true else { return nil }
        var time: PostgresTimestamp?
        if case .time(let t) = request.target { time = t }
        var latest = false
        if case .latest = request.target { latest = true }
        return FilesSnapshotNote.plan(snapshots: found?.snapshots ?? [], target: time, latest: latest, configured: configuration.files.isConfigured)
    }
}
