import TidemarkArchive
import TidemarkCore
import TidemarkRepository

/// A named restore point (`pg_create_restore_point`) found in the archive: the dashboard's
/// timeline shows each as a pin, and `restore --target-name` reaches it.
public struct ArchivedRestorePoint: Sendable, Hashable, Codable {
    public var name: String
    public var timeline: UInt32
    /// Seconds since the epoch.
    public var time: Double
    public var lsn: String
    /// The segment that holds the record.
    public var segment: String

    public init(name: String, timeline: UInt32, time: Double, lsn: String, segment: String) {
        self.name = name
        self.timeline = timeline
        self.time = time
        self.lsn = lsn
        self.segment = segment
    }
}

/// What `Engine.restorePoints(after:)` learned: the restore points of every segment it has
/// read, so the next call reads only segments archived since (a segment's object never
/// changes once archived).
public struct RestorePointScan: Sendable {
    /// Segment name → its restore points (empty for most).
    public var bySegment: [String: [ArchivedRestorePoint]] = [:]
    public init() {}

    /// Every restore point, oldest first.
    public var all: [ArchivedRestorePoint] { bySegment.values.flatMap { $0 }.sorted { ($0.time, $0.lsn) < ($1.time, $1.lsn) } }
}

extension Engine {
    /// The restore points in the first configured repository that can be read: the segments'
    /// summaries (one ranged read each) of every segment not in `previous`; segments no longer
    /// archived (expired) are dropped from the result.
    public func restorePoints(after previous: RestorePointScan) async throws -> RestorePointScan {
        let passphrase = try configuration.requireKey()
        var lastError: (any Error)?
        for spec in configuration.repositories {
            do {
                let repository = try await open(spec, passphrase: passphrase)
                return try await restorePoints(in: repository, after: previous)
            } catch {
                lastError = error
            }
        }
        if let lastError { throw TidemarkError.wrap(lastError, doing: "read the restore points of stanza '\(configuration.stanza)'") }
        return previous
    }

    func restorePoints(in repository: Repository, after previous: RestorePointScan) async throws -> RestorePointScan {
        let stanza = configuration.stanza
        guard let info = try await repository.stanzaInfo(stanza), let size = WALSegmentSize(rawValue: info.walSegmentSize) else {
            return RestorePointScan()
        }
        let archived = try await ArchivedWAL.list(repository, stanza: stanza, size: size)
        var names: [WALSegmentName] = []
        for (timeline, numbers) in archived.fullSegments {
            for n in numbers { names.append(WALSegmentName(timeline: timeline, segment: n, size: size)) }
        }
        var scan = RestorePointScan()
        var unread: [WALSegmentName] = []
        for name in names {
            if let known = previous.bySegment[name.description] { scan.bySegment[name.description] = known } else { unread.append(name) }
        }
        let loader = WALInventoryLoader(repository: repository, stanza: stanza, size: size)
        let facts = try await loader.readFacts(unread, parallel: 16)
        for name in unread {
            scan.bySegment[name.description] = (facts[name]?.summary.restorePoints ?? []).map {
                ArchivedRestorePoint(name: $0.name, timeline: name.timeline.rawValue, time: $0.time.unixSeconds,
                                     lsn: $0.lsn.description, segment: name.description)
            }
        }
        return scan
    }
}
