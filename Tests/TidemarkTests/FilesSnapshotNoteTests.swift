import Foundation
import Testing
@testable import Tidemark
import TidemarkCore
import TidemarkFiles

/// What `plan` and `info` say about file snapshots.
@Suite("Files snapshot notes")
struct FilesSnapshotNoteTests {
    /// 2026-12-01 at `hour`:00 UTC, in nanoseconds.
    func at(_ hour: Int) -> Int64 { (1_796_083_200 + Int64(hour) * 3600) * 1_000_000_000 }

    func snapshot(_ n: Int, hour: Int, backup: String? = nil) -> FilesSnapshot {
        var s = FilesSnapshot(id: String(repeating: String(n), count: 32), time: at(hour), kind: n == 1 ? .full : .incremental)
        s.databaseBackupID = backup
        return s
    }

    @Test func aTimeTargetNamesTheNewestSnapshotAtOrBeforeIt() {
        let snapshots = [snapshot(1, hour: 3, backup: "20261201-030000F"), snapshot(2, hour: 15)]
        let target = PostgresTimestamp(unixSeconds: 1_796_083_200 + 14 * 3600 + 30 * 60)
        #expect(FilesSnapshotNote.plan(snapshots: snapshots, target: target, latest: false, configured: true)
            == "files: snapshot \(String(repeating: "1", count: 32)) (2026-12-01 03:00:00+00, full, with database backup 20261201-030000F) will be restored with `tidemark files restore --to DIR --as-of '2026-12-01 14:30:00+00'`")
        let exact = PostgresTimestamp(unixSeconds: 1_796_083_200 + 15 * 3600)
        #expect(FilesSnapshotNote.plan(snapshots: snapshots, target: exact, latest: false, configured: true)?.contains("snapshot \(String(repeating: "2", count: 32))") == true,
                "a snapshot taken at the target itself is the one")
        let early = PostgresTimestamp(unixSeconds: 1_796_083_200)
        #expect(FilesSnapshotNote.plan(snapshots: snapshots, target: early, latest: false, configured: true)?
            .hasPrefix("files: no file snapshot at or before 2026-12-01 00:00:00+00: the oldest is 1111") == true)
    }

    @Test func otherTargetsAndNothingToSay() {
        let snapshots = [snapshot(1, hour: 3), snapshot(2, hour: 15)]
        #expect(FilesSnapshotNote.plan(snapshots: snapshots, target: nil, latest: true, configured: false)?
            .hasPrefix("files: the newest snapshot \(String(repeating: "2", count: 32))") == true)
        #expect(FilesSnapshotNote.plan(snapshots: snapshots, target: nil, latest: false, configured: true)?.contains("the target is not a time") == true)
        #expect(FilesSnapshotNote.plan(snapshots: [], target: nil, latest: true, configured: false) == nil, "no files, nothing said")
        #expect(FilesSnapshotNote.plan(snapshots: [], target: nil, latest: true, configured: true) == "files: no file snapshot yet (tidemark files backup)")
        #expect(FilesSnapshotNote.info(snapshots: snapshots, repository: "local").hasPrefix("files [local]: 2 snapshots, newest 2222"))
        #expect(FilesSnapshotNote.info(snapshots: [], repository: "files") == "files [files]: no snapshots")
    }
}
