import Foundation
import Testing
import Tidemark
import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkTesting
@testable import TidemarkServer

/// Two file-system repositories (`first` required, `second` required or not) with WAL pushed
/// through the real `wal-push` path: synthetic segments of 1 MiB, each with one commit at a
/// time the test chose, and a full backup catalog.
struct ProbeRepositories {
    static let size = WALSegmentSize(rawValue: 1 << 20)!
    static let base: Int64 = 1_800_000_000
    let scratch: Scratch
    let configuration: Configuration

    init(secondRequired: Bool) async throws {
        scratch = try Scratch()
        let json = """
        {"repositories": [{"name": "first", "type": "posix", "path": "\(scratch.path)/first"},
                          {"name": "second", "type": "posix", "path": "\(scratch.path)/second", "required": \(secondRequired)}],
         "encryptionKey": "unit-test-key-unit-test-key-0123456789"}
        """
        let file = try scratch.write("tidemark.json", Array(json.utf8))
        chmod(file, 0o600)
        configuration = try ConfigurationLoader.load(configPath: file, stanza: nil, environment: [:])
        _ = try await Engine(configuration).initialize(parameters: ScryptParameters(logN: 10))
    }

    func only(_ name: String) throws -> Configuration {
        var c = configuration
        c.repositories = [try c.repository(named: name)]
        return c
    }

    /// The commit time written into segment `i` of timeline 1.
    static func commitTime(_ i: UInt32) -> Int64 { base + Int64(i) * 60 }

    /// Pushes segments `numbers` of timeline 1 into the repositories of `configuration`.
    func push(_ numbers: [UInt32], with configuration: Configuration) async throws {
        for i in numbers {
            let name = WALSegmentName(timeline: TimelineID(1), log: 0, seg: i)
            let bytes = SyntheticWAL.commitSegment(name, commitTime: PostgresTimestamp(unixSeconds: Self.commitTime(i)), xid: 1000 + i,
                                                   size: Self.size)
            let path = try scratch.write(name.description, bytes)
            _ = try await Engine(configuration).walPush(path: path)
            unlink(path)
        }
    }

    /// A full backup from segment 1 to 2 that ended at `end`, in every repository.
    func backup(end: Int64) async throws {
        let id = try #require(BackupID(rawValue: "20270115-080000F"))
        let stamp = PostgresTimestamp(unixSeconds: end).iso8601
        let catalog = BackupCatalog(
            id: id, type: .full, parent: nil, label: "probe", startTime: stamp, stopTime: stamp,
            startLSN: LSN(rawValue: 1 << 20 + 40), stopLSN: LSN(rawValue: 2 << 20 + 256), timeline: 1, stopTimeline: 1,
            postgresVersion: 150000, systemIdentifier: "7300000000000000001", walSegmentSize: Self.size.rawValue, blockSize: 8192,
            backupLabel: "", tablespaceMap: nil, tablespaces: [], databaseSize: 1 << 20, storedSize: 12_345, durationSeconds: 17,
            packs: [], entries: [])
        for repository in try await Engine(configuration).openRepositories() {
            let bytes = encodeEnvelope(Array(try JSONEncoder().encode(catalog)), key: repository.key, kind: .catalog, compression: .none).bytes
            _ = try await repository.store.put(RepositoryLayout.backupObject("main", id, "catalog"), bytes: bytes, ifAbsent: true)
        }
    }

    /// A data directory whose archive_status holds `ready` .ready files and one .done.
    func dataDirectory(ready: [String]) throws -> String {
        let status = scratch.path + "/pgdata/pg_wal/archive_status"
        try FileManager.default.createDirectory(atPath: status, withIntermediateDirectories: true)
        for name in ready { _ = FileManager.default.createFile(atPath: "\(status)/\(name).ready", contents: nil) }
        _ = FileManager.default.createFile(atPath: "\(status)/000000010000000000000001.done", contents: nil)
        return scratch.path + "/pgdata"
    }
}

@Suite("Status probe", .serialized)
struct StatusProbeTests {
    static let now = Date(timeIntervalSince1970: TimeInterval(ProbeRepositories.base + 1_000))

    /// RPO is measured from the newest commit durable in EVERY required repository: `second`
    /// lacks segment 5, so the RPO is counted from segment 4's commit.
    @Test(arguments: [true, false]) func rpoWindowAndBackupsFromARealRepository(secondRequired: Bool) async throws {
        let repos = try await ProbeRepositories(secondRequired: secondRequired)
        try await repos.push([1, 2, 3, 4], with: repos.configuration)
        try await repos.push([5], with: try repos.only("first"))
        let backupEnd = ProbeRepositories.base + 90
        try await repos.backup(end: backupEnd)
        let data = try repos.dataDirectory(ready: ["000000010000000000000007", "000000010000000000000006"])
        let engine = Engine(repos.configuration, now: { Self.now })
        let snapshot = await StatusProbe(engine: engine, dataDirectory: data).probe()

        #expect(snapshot.errors.isEmpty, "\(snapshot.errors)")
        let first = try #require(snapshot.repositories.first { $0.name == "first" })
        let second = try #require(snapshot.repositories.first { $0.name == "second" })
        #expect(first.newestCommitTime == Double(ProbeRepositories.commitTime(5)))
        #expect(second.newestCommitTime == Double(ProbeRepositories.commitTime(4)))
        #expect(first.newestSegment == "000000010000000000000005" && second.newestSegment == "000000010000000000000004")
        let durable = secondRequired ? ProbeRepositories.commitTime(4) : ProbeRepositories.commitTime(5)
        #expect(snapshot.rpoCommitTime == Double(durable))
        #expect(snapshot.rpoSeconds == Self.now.timeIntervalSince1970 - Double(durable))

        let timeline = try #require(first.timelines.first)
        #expect(timeline.timeline == 1 && timeline.gaps == 0)
        #expect(timeline.windowStart == Double(backupEnd))
        #expect(timeline.windowEnd == Double(ProbeRepositories.commitTime(5)))
        #expect(timeline.windowBackup == "20270115-080000F")
        #expect(first.newestBackups == [BackupStatus(type: "full", id: "20270115-080000F", finishedAt: Double(backupEnd),
                                                     durationSeconds: 17, storedBytes: 12_345)])
        #expect((first.usedBytes ?? 0) > 12_345 && (first.freeBytes ?? 0) > 0 && (first.capacityBytes ?? 0) >= (first.freeBytes ?? 0))
        #expect(snapshot.archive.readySegments == 2 && snapshot.archive.oldestReady == "000000010000000000000006")
        #expect(snapshot.archive.archivedSegment == (secondRequired ? "000000010000000000000004" : "000000010000000000000005"))

        let metrics = ServiceMetrics(stanza: "main")
        metrics.update(from: snapshot)
        let text = metrics.render()
        #expect(sample(text, "tidemark_rpo_seconds", [("stanza", "main")]) == Self.now.timeIntervalSince1970 - Double(durable))
        #expect(sample(text, "tidemark_pitr_window_start_timestamp_seconds",
                       [("stanza", "main"), ("repository", "first"), ("timeline", "1")]) == Double(backupEnd))
        #expect(sample(text, "tidemark_archive_backlog_segments", [("stanza", "main")]) == 2)
        #expect(sample(text, "tidemark_backup_last_success_timestamp_seconds",
                       [("stanza", "main"), ("repository", "second"), ("type", "full")]) == Double(backupEnd))
    }

    @Test func aMissingSegmentIsAGapAndTheWindowStopsBeforeIt() async throws {
        let repos = try await ProbeRepositories(secondRequired: false)
        try await repos.push([1, 2, 4, 5], with: try repos.only("first"))
        try await repos.backup(end: ProbeRepositories.base + 90)
        let snapshot = await StatusProbe(engine: Engine(try repos.only("first"), now: { Self.now })).probe()
        let timeline = try #require(snapshot.repositories.first?.timelines.first)
        #expect(timeline.gaps == 1)
        #expect(timeline.windowStart == nil, "no backup reaches segment 5 without crossing the gap")
        #expect(snapshot.archive.readySegments == nil, "no data directory: the backlog is unknown, not 0")
    }

    /// A required repository that cannot be read keeps its last known commit (the RPO keeps
    /// rising instead of vanishing), the failure is recorded and tidemark_up turns 0.
    @Test func anUnreadableRepositoryKeepsItsLastCommitAndIsRecorded() async throws {
        let repos = try await ProbeRepositories(secondRequired: true)
        try await repos.push([1, 2, 3], with: repos.configuration)
        let before = await StatusProbe(engine: Engine(repos.configuration, now: { Self.now })).probe()
        #expect(before.errors.isEmpty, "\(before.errors)")
        try FileManager.default.moveItem(atPath: repos.scratch.path + "/second", toPath: repos.scratch.path + "/second-away")
        let later = Date(timeIntervalSince1970: Self.now.timeIntervalSince1970 + 60)
        let after = await StatusProbe(engine: Engine(repos.configuration, now: { later })).probe(previous: before)
        let second = try #require(after.repositories.first { $0.name == "second" })
        #expect(!second.reachable && second.error != nil)
        #expect(after.errors["repository.second"] != nil)
        #expect(second.newestCommitCarried && second.newestCommitTime == Double(ProbeRepositories.commitTime(3)))
        #expect(after.rpoSeconds == later.timeIntervalSince1970 - Double(ProbeRepositories.commitTime(3)))
        let metrics = ServiceMetrics(stanza: "main")
        metrics.update(from: after)
        #expect(sample(metrics.render(), "tidemark_up", [("stanza", "main")]) == 0)
        #expect(MetricsHTTPServer.healthReason(after, now: later.timeIntervalSince1970) == "a required repository could not be read")
        // Without a previous snapshot the RPO is unknown, and says why.
        let fresh = await StatusProbe(engine: Engine(repos.configuration, now: { later })).probe()
        #expect(fresh.rpoSeconds == nil && fresh.errors["rpo"]?.contains("'second'") == true)
    }
}
