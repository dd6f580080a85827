#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Tidemark
import TidemarkArchive
import TidemarkCore
import TidemarkPolicy
import TidemarkRepository
import TidemarkRetention
import TidemarkSystem

/// The service's look at a stanza, once a minute: every repository read in parallel the way
/// `expire --dry-run` reads it (the catalog index, one listing per WAL directory, the history
/// files and the summaries of the newest segments — never every segment's summary), the
/// archive backlog from the data directory, and, when given, the server's WAL position.
/// A part that fails is recorded in `StatusSnapshot.errors` and the rest still reported.
public struct StatusProbe: Sendable {
    public let engine: Engine
    /// S3 repositories' quotas by repository name (`quotaBytes` in the configuration).
    public var quotaBytes: [String: Int64]
    /// PGDATA, for the `.ready` count; nil: the backlog is unknown.
    public var dataDirectory: String?
    /// The server's WAL position and archiver statistics; nil: not asked (`ServerWALState.query`
    /// asks over the engine's libpq connection).
    public var server: (@Sendable () async throws -> ServerWALState)?

    public init(engine: Engine, quotaBytes: [String: Int64] = [:], dataDirectory: String? = nil,
                server: (@Sendable () async throws -> ServerWALState)? = nil) {
        self.engine = engine
        self.quotaBytes = quotaBytes
        self.dataDirectory = dataDirectory
        self.server = server
    }

    /// The snapshot now. `previous`: the last snapshot, whose newest commit of a repository that
    /// cannot be read now is kept (what was durable then still is), so the RPO keeps rising
    /// while a required repository is down instead of vanishing. Never throws.
    public func probe(previous: StatusSnapshot? = nil) async -> StatusSnapshot {
        let now = engine.now().timeIntervalSince1970
        let configuration = engine.configuration
        var snapshot = StatusSnapshot(stanza: configuration.stanza, takenAt: now)
        let specs = configuration.repositories
        let results = await withTaskGroup(of: (Int, RepositoryStatus, [String: String]).self) { group in
            for (index, spec) in specs.enumerated() {
                group.addTask {
                    let (status, errors) = await repositoryStatus(spec)
                    return (index, status, errors)
                }
            }
            var out: [(Int, RepositoryStatus, [String: String])] = []
            for await r in group { out.append(r) }
            return out.sorted { $0.0 < $1.0 }
        }
        for (_, found, errors) in results {
            var status = found
            snapshot.errors.merge(errors) { a, _ in a }
            if status.newestCommitTime == nil, status.error != nil,
               let before = previous?.repositories.first(where: { $0.name == status.name })?.newestCommitTime {
                status.newestCommitTime = before
                status.newestCommitCarried = true
            }
            snapshot.repositories.append(status)
        }
        Self.applyRPO(&snapshot)
        await readArchiveStatus(into: &snapshot)
        return snapshot
    }

    /// RPO: now minus the newest commit durable in every required repository (every repository
    /// when none is required).
    static func applyRPO(_ snapshot: inout StatusSnapshot) {
        let required = snapshot.repositories.filter(\.required)
        let counted = required.isEmpty ? snapshot.repositories : required
        let missing = counted.filter { $0.newestCommitTime == nil }.map(\.name)
        guard !counted.isEmpty, missing.isEmpty else {
            snapshot.errors["rpo"] = counted.isEmpty ? "no repository is configured"
                : "no archived commit is known in repository " + missing.map { "'\($0)'" }.joined(separator: ", ")
            return
        }
        let commit = counted.compactMap(\.newestCommitTime).min() ?? snapshot.takenAt
        snapshot.rpoCommitTime = commit
        snapshot.rpoSeconds = max(0, snapshot.takenAt - commit)
    }

    /// One repository: opened (or the reason it could not be), then read.
    func repositoryStatus(_ spec: RepositorySpec) async -> (RepositoryStatus, [String: String]) {
        var status = RepositoryStatus(name: spec.name, type: spec.type.rawValue, required: spec.required)
        var errors: [String: String] = [:]
        let repository: Repository
        do {
            let passphrase = try engine.configuration.requireKey()
            repository = try await engine.open(spec, passphrase: passphrase)
            status.reachable = true
        } catch {
            let message = TidemarkError.wrap(error, doing: "open repository '\(spec.name)'").message
            status.error = message
            errors["repository.\(spec.name)"] = message
            return (status, errors)
        }
        do {
            try await read(repository, spec: spec, into: &status)
        } catch {
            let message = TidemarkError.wrap(error, doing: "read stanza '\(engine.configuration.stanza)' in repository '\(spec.name)'").message
            status.error = message
            errors["repository.\(spec.name)"] = message
        }
        do {
            try await storage(spec, into: &status)
        } catch {
            errors["repository.\(spec.name).free"] = TidemarkError.wrap(error, doing: "measure the free space of repository '\(spec.name)'").message
        }
        return (status, errors)
    }

    /// What retention reads (`ExpireRun.read`, writing nothing), then the same pure decisions
    /// `info` and `verify` make of it: the window to the newest commit (`Retention`) and the
    /// gaps along each timeline's history (`WALContinuity`).
    func read(_ repository: Repository, spec: RepositorySpec, into status: inout RepositoryStatus) async throws {
        let stanza = engine.configuration.stanza
        let summaries = try await BackupStore(repository: repository, stanza: stanza).summaries(writingIndex: false)
        status.newestBackups = Self.newestBackups(summaries)
        status.oldestBackupFinishedAt = summaries.compactMap { try? PostgresTimestamp(parsing: $0.stopTime).unixSeconds }.min()
        let policy = engine.configuration.retention[spec.name] ?? .default
        let now = Int64(engine.now().timeIntervalSince1970.rounded(.down))
        let run = ExpireRun(name: spec.name, repository: repository, stanza: stanza, policy: policy, now: now, asOf: nil)
        let state = try await run.read(writingIndex: false, summaries: summaries)
        let walBytes = state.wal.objects.values.reduce(Int64(0)) { sum, bySegment in
            bySegment.values.reduce(sum) { $0 + $1.reduce(0) { $0 + $1.size } }
        }
        status.usedBytes = walBytes + state.summaries.reduce(0) { $0 + $1.storedSize }
        guard let size = state.size else { return }
        status.walSegmentSize = size.rawValue
        let plan = Retention.evaluate(policy, run.retentionInput(state))
        let continuity = WALContinuity.analyze(ContinuityInput(
            segmentSize: size, segments: state.wal.fullSegments, histories: Array(state.graph.histories.values),
            backups: state.summaries.map {
                ContinuityBackup(id: $0.id.rawValue, timeline: TimelineID($0.timeline), startLSN: $0.startLSN, stopLSN: $0.stopLSN,
                                 stopTimeline: TimelineID($0.stopTimeline), stopTime: PostgresTimestamp(unixSeconds: $0.endTime))
            },
            lastCompletion: [:]))
        var timelines: [TimelineStatus] = []
        for timeline in Set(state.wal.fullSegments.keys).union(plan.windowsBefore.map(\.timeline)).sorted() {
            var t = TimelineStatus(timeline: timeline.rawValue)
            t.newestSegment = state.wal.fullSegments[timeline]?.max().map { WALSegmentName(timeline: timeline, segment: $0, size: size).description }
            if let w = plan.windowsBefore.first(where: { $0.timeline == timeline }) {
                t.windowStart = Double(w.from)
                t.windowEnd = w.until.map(Double.init)
                t.windowBackup = w.backup
            }
            t.gaps = continuity.gaps.filter { $0.timeline == timeline }.count
            timelines.append(t)
        }
        status.timelines = timelines
        if let newest = state.wal.fullSegments.filter({ !$0.value.isEmpty }).max(by: { $0.key < $1.key }),
           let segment = newest.value.max() {
            status.newestSegment = WALSegmentName(timeline: newest.key, segment: segment, size: size).description
        }
        status.newestCommitTime = state.lastCommit.values.max().map(Double.init)
    }

    /// The newest backup of each type, by stop time.
    static func newestBackups(_ summaries: [CatalogSummary]) -> [BackupStatus] {
        var newest: [String: BackupStatus] = [:]
        for s in summaries {
            guard let stop = try? PostgresTimestamp(parsing: s.stopTime) else { continue }
            let b = BackupStatus(type: s.type.rawValue, id: s.id.rawValue, finishedAt: stop.unixSeconds,
                                 durationSeconds: s.durationSeconds, storedBytes: s.storedSize)
            if let known = newest[b.type], (known.finishedAt, known.id) >= (b.finishedAt, b.id) { continue }
            newest[b.type] = b
        }
        return newest.values.sorted { $0.type < $1.type }
    }

    /// Free and total bytes: statvfs for a directory, the quota for S3 (when configured).
    func storage(_ spec: RepositorySpec, into status: inout RepositoryStatus) async throws {
        switch spec.type {
        case .posix:
            let path = spec.path
            let (free, total) = try await BlockingPool.shared.run("statvfs") { try Self.statvfsBytes(path) }
            status.freeBytes = free
            status.capacityBytes = total
        case .s3:
            guard let quota = quotaBytes[spec.name] else { return }
            status.capacityBytes = quota
            if let used = status.usedBytes { status.freeBytes = max(0, quota - used) }
        }
    }

    /// `statvfs(3)` of `path`: bytes available to an unprivileged user, and the file system's size.
    static func statvfsBytes(_ path: String) throws -> (free: Int64, total: Int64) {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else {
            let reason = String(cString: strerror(errno))
            throw TidemarkError(.io, "unable to read the file system of '\(path)': \(reason)",
                                hints: ["check that the repository directory exists and is readable by this user"])
        }
        let unit = Int64(s.f_frsize == 0 ? s.f_bsize : s.f_frsize)
        return (Int64(s.f_bavail) * unit, Int64(s.f_blocks) * unit)
    }
}
