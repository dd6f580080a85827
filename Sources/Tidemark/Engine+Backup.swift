#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PostgresReplication
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkVerify
import Logging

extension Engine {
    package func connect() async throws -> ReplicationConnection {
        do {
            return try await ReplicationConnection.connect(conninfo: configuration.conninfo, timeout: .seconds(30))
        } catch let e as ReplicationError {
            throw TidemarkError.from(e, conninfoHint: configuration.conninfo.isEmpty
                                     ? "libpq defaults and PG* variables (PGHOST, PGPORT, PGUSER)" : "postgres.conninfo in the config / TIDEMARK_PG_CONNINFO")
        }
    }

    /// Facts the catalog needs, and checks that must hold before a backup is worth taking.
    package static func serverFacts(_ connection: ReplicationConnection) async throws -> (ServerFacts, SystemIdentity) {
        do {
            let identity = try await connection.identifySystem()
            let segment = try await connection.show("wal_segment_size")
            let block = try await connection.show("block_size")
            let facts = ServerFacts(systemIdentifier: String(identity.systemIdentifier), postgresVersion: connection.serverVersionNumber,
                                    walSegmentSize: parseSize(segment) ?? 16 << 20, blockSize: Int(block) ?? 8192)
            return (facts, identity)
        } catch var e as ReplicationError {
            if e.endpoint == nil, e.code == .connectionFailed || e.code == .timeout { e.endpoint = connection.endpoint }
            throw TidemarkError.from(e, conninfoHint: "")
        }
    }

    package static func parseSize(_ text: String) -> UInt64? {
        let t = text.trimmingTrailingSpaces()
        let units: [(String, UInt64)] = [("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10), ("B", 1)]
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            return UInt64(t.dropLast(suffix.count)).map { $0 * factor }
        }
        return UInt64(t)
    }

    /// `tidemark backup`: one BASE_BACKUP stream into every repository (or only the one named
    /// `repository`), all under the same backup id. The backup is complete in a repository only
    /// once the WAL it needs is there. A required repository that fails fails the backup (and
    /// leaves nothing visible anywhere); an optional one is dropped with an alert.
    /// With `verify` (and `verifyAfterBackup`, the default) every object the backup stored is
    /// read back and authenticated before its catalog is written (`BackupVerification`).
    public func backup(type: BackupType, label: String?, repository named: String? = nil, verify: Bool = true,
                              progress: (@Sendable (Int64, Int64?) -> Void)? = nil) async throws -> BackupResult {
        try checkOwnership(command: "backup")
        var specs = configuration.repositories
        if let named {
            var spec = try configuration.repository(named: named)
            spec.required = true  // asked for by name
            specs = [spec]
        }
        let passphrase = try configuration.requireKey()
        var alerts: [String] = []
        var opened: [(RepositorySpec, Repository)] = []
        for spec in specs {
            do {
                opened.append((spec, try await open(spec, passphrase: passphrase)))
            } catch {
                let e = TidemarkError.wrap(error, doing: "open repository '\(spec.name)'")
                if spec.required { throw e }
                alerts.append("optional repository '\(spec.name)' is left out of this backup: \(e.message)")
            }
        }
        // A stanza that exists nowhere is a typo until proven otherwise: refused before the lock writes anything.
        try await requireStanza(command: "backup", mayStartFirst: true)
        // The stanza lock first: a refused backup (exit 13) costs the server nothing, not even a checkpoint.
        var leases: [String: Lease] = [:]
        var locked: [(RepositorySpec, Repository)] = []
        for (spec, repository) in opened {
            do {
                leases[spec.name] = try await stanzaLock(in: repository).acquire(command: "backup")
                locked.append((spec, repository))
            } catch {
                if spec.required {
                    for lease in leases.values { await lease.release() }
                    throw error
                }
                alerts.append("optional repository '\(spec.name)' is left out of this backup: \(TidemarkError.wrap(error, doing: "take the lock").message)")
            }
        }
        opened = locked
        let result: Result<BackupResult, any Error>
        do {
            result = .success(try await backup(type: type, label: label, opened: opened, leases: leases,
                                               alerts: alerts, verify: verify && configuration.verifyAfterBackup, progress: progress))
        } catch {
            result = .failure(error)
        }
        // The backup releases the leases of its targets; this covers a failure before it
        // started and repositories it left out. Releasing twice is harmless.
        for lease in leases.values { await lease.release() }
        return try result.get()
    }

    private func backup(type: BackupType, label: String?, opened: [(RepositorySpec, Repository)],
                               leases: [String: Lease], alerts: [String], verify: Bool,
                               progress: (@Sendable (Int64, Int64?) -> Void)?) async throws -> BackupResult {
        var alerts = alerts
        let connection = try await connect()
        defer { connection.close() }
        let (facts, identity) = try await Self.serverFacts(connection)
        let archiveMode = (try? await connection.show("archive_mode")) ?? "off"
        guard archiveMode == "on" || archiveMode == "always" else {
            throw TidemarkError(.configuration, "archive_mode is '\(archiveMode)': a backup without archived WAL cannot be restored",
                                hints: ["set archive_mode = on and archive_command = 'tidemark wal-push %p' (restart needed); `tidemark check` verifies the setup"])
        }
        // One stanza, one cluster, in every repository.
        let walSize = WALSegmentSize(rawValue: facts.walSegmentSize) ?? .default
        var targets: [BackupTarget] = []
        var archives: [String: WALArchive] = [:]
        for (spec, repository) in opened {
            do {
                guard let lease = leases[spec.name] else { continue }
                try lease.checkHeld()
                let stanza = try await repository.establishStanza(StanzaInfo(
                    name: configuration.stanza, systemIdentifier: facts.systemIdentifier, walSegmentSize: facts.walSegmentSize,
                    postgresVersion: facts.postgresVersion / 10000, created: now().formatted(.iso8601)))
                guard stanza.systemIdentifier == facts.systemIdentifier else {
                    throw TidemarkError(.conflict, "the server's system identifier is \(facts.systemIdentifier) but stanza '\(configuration.stanza)' in repository '\(spec.name)' holds cluster \(stanza.systemIdentifier)",
                                        hints: ["back this cluster up to its own stanza (--stanza / TIDEMARK_STANZA)"])
                }
            } catch {
                if spec.required { throw error }
                alerts.append("optional repository '\(spec.name)' is left out of this backup: \(TidemarkError.wrap(error, doing: "check stanza '\(configuration.stanza)'").message)")
                continue
            }
            var target = BackupTarget(name: spec.name, required: spec.required,
                                      store: BackupStore(repository: repository, stanza: configuration.stanza))
            target.lease = leases[spec.name]
            targets.append(target)
            archives[spec.name] = archive(repository, spec: spec)
        }
        guard !targets.isEmpty else {
            throw TidemarkError(.repository, "no repository can take the backup", hints: alerts)
        }
        _ = identity
        let label = label ?? "tidemark \(type.rawValue)"
        let options = BaseBackupOptions(label: label, progress: progress != nil,
                                        checkpoint: configuration.fastCheckpoint ? .fast : .spread,
                                        // The server would poll archive_status once a second; Tidemark
                                        // waits for the segments in its own repositories instead (250 ms).
                                        waitForWALArchive: false, manifest: .yes, manifestChecksums: .crc32c)
        let stream: BaseBackupStream
        do {
            stream = try connection.baseBackup(options: options)
        } catch let e as ReplicationError {
            throw TidemarkError.from(e, conninfoHint: "")
        }
        let total = TotalEstimate()
        var source = ReplicationBackupSource(stream: stream, total: total)
        let timeout = configuration.archiveTimeoutSeconds
        let onBytes: (@Sendable (Int64) -> Void)? = progress.map { report in
            let box = total
            return { (bytes: Int64) in report(bytes, box.value) }
        }
        let waitArchives = archives
        let verified = LockedBox<[String: BackupVerification.Outcome]>([:])
        let stanza = configuration.stanza
        let nowSeconds = Int64(now().timeIntervalSince1970.rounded(.down))
        let beforeCommit: @Sendable (BackupTarget, BackupCatalog) async throws -> Void = { target, catalog in
            guard let archive = waitArchives[target.name] else { return }
            if verify {
                let outcome = try await BackupVerification.verifyStoredObjects(target.store.repository, stanza: stanza, id: catalog.id,
                                                                              now: nowSeconds)
                verified.mutate { $0[target.name] = outcome }
            }
            try await archive.waitForSegments(from: catalog.startLSN, through: catalog.stopLSN,
                                              timeline: TimelineID(catalog.stopTimeline), size: walSize, timeout: timeout)
        }
        let run = BackupFanOut(targets: targets)
        run.leaseSeconds = configuration.lockLeaseSeconds
        run.onLeaseLost = { stream.cancel() }
        let results: [RepositoryBackup]
        do {
            results = try await run.take(type: type, label: label, server: facts, source: &source,
                                         compression: configuration.compression, compressionLevel: configuration.compressionLevel,
                                         progress: onBytes, beforeCommit: beforeCommit)
        } catch let e as ReplicationError {
            stream.cancel()
            throw TidemarkError.from(e, conninfoHint: "")
        } catch {
            stream.cancel()
            throw error
        }
        guard let first = results.first else { throw TidemarkError(.io, "internal: the backup produced no result") }
        logger.info("backup done", metadata: ["backup.id": "\(first.catalog.id)", "backup.type": "\(type)",
                                              "backup.blocks.new": "\(first.newBlocks)", "backup.blocks.reused": "\(first.reusedBlocks)",
                                              "repositories": "\(results.map(\.repository).joined(separator: ","))"])
        var result = BackupResult(catalog: first.catalog, notices: run.notices, newBlocks: first.newBlocks, reusedBlocks: first.reusedBlocks,
                                  repositories: results.map(\.repository), alerts: alerts + run.alerts)
        let outcomes = verified.value
        if verify {
            result.verifySeconds = outcomes.values.map(\.seconds).max() ?? 0
            result.verifiedObjects = outcomes.values.map(\.objects).reduce(0, +)
        }
        return result
    }
}

extension WALArchive {
    /// Waits until every segment from `start` to `stop` on `timeline` is in the repository.
    package func waitForSegments(from start: LSN, through stop: LSN, timeline: TimelineID, size: WALSegmentSize, timeout: Double) async throws {
        let first = start.segment(size: size)
        let last = stop.segmentEndingHere(size: size)
        let deadline = ContinuousClock.now + .seconds(timeout)
        var segment = first
        while segment <= last {
            let name = WALSegmentName(timeline: timeline, segment: segment, size: size)
            if try await objectExists(RepositoryLayout.wal(stanza, .segment(name))) {
                segment += 1
                continue
            }
            guard ContinuousClock.now < deadline else {
                throw TidemarkError(.io, "the backup needs WAL segment \(name), which did not reach repository '\(repositoryName ?? location)' within \(Int(timeout)) s; the backup is not complete",
                                    hints: ["check archive_command = 'tidemark wal-push %p' with this repository and stanza, and pg_stat_archiver / the server log for failures",
                                            "`tidemark check` tests the whole archive path"])
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }
}
