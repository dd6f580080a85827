#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository

/// The result of `takeBackup`, with notices for the operator.
public struct BackupResult: Sendable {
    public var catalog: BackupCatalog
    public var notices: [String]
    public var newBlocks: Int
    public var reusedBlocks: Int
    /// The repositories that hold the backup (all under `catalog.id`).
    public var repositories: [String] = []
    /// Optional repositories that failed (the backup completed in the others).
    public var alerts: [String] = []
    /// Seconds the backup's own verification took (the slowest repository); nil when skipped.
    public var verifySeconds: Double?
    /// Objects read back and authenticated, summed over the repositories.
    public var verifiedObjects = 0

    package init(catalog: BackupCatalog, notices: [String], newBlocks: Int, reusedBlocks: Int, repositories: [String] = [], alerts: [String] = []) {
        self.catalog = catalog
        self.notices = notices
        self.newBlocks = newBlocks
        self.reusedBlocks = reusedBlocks
        self.repositories = repositories
        self.alerts = alerts
    }
}

/// One repository a backup is taken into.
public struct BackupTarget: Sendable {
    public var name: String
    /// A required target that fails fails the backup; an optional one is dropped with an alert.
    public var required: Bool
    public var store: BackupStore
    /// The stanza lock, when the caller took it already (else the backup takes it).
    package var lease: Lease?
    public init(name: String, required: Bool, store: BackupStore) {
        self.name = name
        self.required = required
        self.store = store
    }
}

/// What one repository got from `BackupFanOut.take`.
public struct RepositoryBackup: Sendable {
    public var repository: String
    public var catalog: BackupCatalog
    public var newBlocks: Int
    public var reusedBlocks: Int
}

extension BackupStore {
    /// Consumes one base-backup stream into a new backup. The catalog is written last, so an
    /// interrupted backup never looks complete; the next backup removes its leftovers.
    public func takeBackup(type requested: BackupType, label: String, server: ServerFacts,
                           source: inout some BackupInputSource, compression: CompressionAlgorithm,
                           compressionLevel: Int32?, progress: (@Sendable (Int64) -> Void)? = nil,
                           beforeCommit: (@Sendable (BackupCatalog) async throws -> Void)? = nil) async throws -> BackupResult {
        let run = BackupFanOut(targets: [BackupTarget(name: store.location, required: true, store: self)])
        var commitCheck: (@Sendable (BackupTarget, BackupCatalog) async throws -> Void)?
        if let beforeCommit {
            commitCheck = { @Sendable (_: BackupTarget, catalog: BackupCatalog) async throws in try await beforeCommit(catalog) }
        }
        let results = try await run.take(type: requested, label: label, server: server, source: &source, compression: compression,
                                         compressionLevel: compressionLevel, progress: progress, beforeCommit: commitCheck)
        guard let first = results.first else { throw TidemarkError(.io, "internal: the backup produced no result") }
        return BackupResult(catalog: first.catalog, notices: run.notices, newBlocks: first.newBlocks, reusedBlocks: first.reusedBlocks,
                            repositories: [first.repository], alerts: run.alerts)
    }
}

/// One base-backup stream fanned out into one `BackupBuilder` per repository: each repository
/// has its own data key and its own parent chain, so blocks are hashed and encoded once per
/// repository (memory: a few batches per repository). Every repository gets the same id.
///
/// A required repository that fails fails the whole backup: every repository's partial backup
/// is removed (and catalogs already written are deleted again), so nothing incomplete is
/// visible anywhere. An optional repository that fails is dropped, its partial backup removed,
/// and `alerts` says so; the others carry on.
package final class BackupFanOut {
    package final class State {
        package let target: BackupTarget
        package var lease: Lease?
        package var parent: BackupCatalog?
        package var builder: BackupBuilder?
        package var failure: TidemarkError?
        package var catalog: BackupCatalog?
        package var committed = false
        package init(_ target: BackupTarget) {
            self.target = target
            lease = target.lease
        }
        package var name: String { target.name }
        package var store: BackupStore { target.store }
    }

    package let states: [State]
    package private(set) var notices: [String] = []
    package private(set) var alerts: [String] = []
    private var id: BackupID?
    private var keeper: LeaseKeeper?
    /// Seconds each repository's stanza lease lasts (renewed every third of that).
    package var leaseSeconds: Double = 60
    /// Called (once) when the lease of a required repository is lost: it should stop the
    /// stream, so that the backup fails now instead of at its end.
    package var onLeaseLost: (@Sendable () -> Void)?

    package init(targets: [BackupTarget]) {
        states = targets.map(State.init)
    }

    private var live: [State] { states.filter { $0.failure == nil } }
    private var several: Bool { states.count > 1 }

    /// Drops an optional target (with an alert) or rethrows for a required one.
    private func fail(_ s: State, _ error: any Error, doing what: String) async throws {
        let e = TidemarkError.wrap(error, doing: what)
        if s.target.required { throw e }
        s.failure = e
        await s.builder?.abort()
        s.builder = nil
        alerts.append("optional repository '\(s.name)' dropped out of the backup\(id.map { " '\($0)'" } ?? ""): \(e.message); the backup goes on in the other repositories")
        if live.isEmpty { throw e }
    }

    /// Runs `body` for every live target; a failure is handled by `fail`.
    private func each(_ what: String, _ body: (State) async throws -> Void) async throws {
        for s in live {
            do { try await body(s) } catch { try await fail(s, error, doing: what + (several ? " in repository '\(s.name)'" : "")) }
        }
    }

    package func take(type requested: BackupType, label: String, server: ServerFacts,
              source: inout some BackupInputSource, compression: CompressionAlgorithm,
              compressionLevel: Int32?, progress: (@Sendable (Int64) -> Void)?,
              beforeCommit: (@Sendable (BackupTarget, BackupCatalog) async throws -> Void)?) async throws -> [RepositoryBackup] {
        do {
            let results = try await takeLocked(type: requested, label: label, server: server, source: &source,
                                               compression: compression, compressionLevel: compressionLevel, progress: progress,
                                               beforeCommit: beforeCommit)
            await cleanUp(failedOnly: true)
            return results
        } catch {
            await cleanUp(failedOnly: false)
            // A stream stopped because a lease was lost fails with the loss, not the stop.
            if let lost = states.first(where: { $0.target.required && $0.lease?.lostError != nil })?.lease?.lostError { throw lost }
            throw error
        }
    }

    /// Removes partial backups (all, or those of dropped targets) and releases the locks.
    private func cleanUp(failedOnly: Bool) async {
        await keeper?.stop()
        keeper = nil
        for s in states {
            if let id, !failedOnly || s.failure != nil {
                await s.builder?.abort()
                s.builder = nil
                if s.committed { try? await s.store.store.delete(RepositoryLayout.backupObject(s.store.stanza, id, "catalog")) }
                if s.lease != nil { try? await s.store.store.removeAll(prefix: RepositoryLayout.backupDirectory(s.store.stanza, id)) }
            }
            await s.lease?.release()
            s.lease = nil
        }
    }

    private func takeLocked(type requested: BackupType, label: String, server: ServerFacts,
                            source: inout some BackupInputSource, compression: CompressionAlgorithm,
                            compressionLevel: Int32?, progress: (@Sendable (Int64) -> Void)?,
                            beforeCommit: (@Sendable (BackupTarget, BackupCatalog) async throws -> Void)?) async throws -> [RepositoryBackup] {
        try await each("take the lock") { s in
            if s.lease == nil { s.lease = try await s.store.lock(duration: leaseSeconds).acquire(command: "backup") }
        }
        let requiredLeases = Set(live.filter(\.target.required).compactMap { $0.lease.map(ObjectIdentifier.init) })
        let stop = onLeaseLost
        keeper = LeaseKeeper(live.compactMap(\.lease)) { lease, _ in
            if requiredLeases.contains(ObjectIdentifier(lease)) { stop?() }
        }
        try await each("remove incomplete backups") { s in
            let removed = try await s.store.removeIncomplete()
            if !removed.isEmpty {
                notices.append("removed incomplete backup(s) left by an interrupted run: " + removed.map(\.rawValue).joined(separator: ", ")
                               + (several ? " (repository '\(s.name)')" : ""))
            }
        }
        var type = requested
        if type == .incremental {
            try await each("find the parent backup") { s in
                s.parent = try await s.store.catalogs().last { $0.systemIdentifier == server.systemIdentifier && $0.blockSize == server.blockSize }
            }
            if let lacking = live.first(where: { $0.parent == nil }) {
                notices.append("no earlier backup of this cluster to base an incremental on: taking a full backup"
                               + (several ? " in every repository (repository '\(lacking.name)' has none)" : ""))
                type = .full
                for s in states { s.parent = nil }
            }
        }
        let started = Date()
        var existing = Set<Substring>()
        try await each("list the backups") { s in
            for (id, _) in try await s.store.backupDirectories() { existing.insert(id.rawValue.prefix(15)) }
        }
        let id = try await BackupStore.newID(type: type, at: started, existing: existing)
        self.id = id
        try await each("prepare the backup") { s in
            var known: [BlockHash: BlockLocation] = [:]
            if let parent = s.parent { known = try await s.store.knownBlocks(of: parent) }
            s.builder = BackupBuilder(repository: s.store.repository, stanza: s.store.stanza, id: id, blockSize: server.blockSize,
                                      compression: compression, compressionLevel: compressionLevel,
                                      parentPacks: s.parent?.packs ?? [], known: known)
        }
        var startLSN: LSN?, stopLSN: LSN?
        var timeline: TimelineID?, stopTimeline: TimelineID?
        var tablespaces: [CatalogTablespace] = []
        var tablespace: UInt32?
        var manifest: [UInt8]?
        var capture: String?
        var captured: [String: [UInt8]] = [:]
        var streamed: Int64 = 0
        while let event = try await source.next() {
            switch event {
            case .started(let lsn, let tli):
                startLSN = lsn
                timeline = tli
            case .tablespaces(let list):
                tablespaces = list
            case .archive(let oid):
                tablespace = oid
            case .directory(let path, let mode):
                for s in live { s.builder?.directory(path, mode: mode, tablespace: tablespace) }
            case .symlink(let path, let target):
                for s in live { s.builder?.symlink(path, target: target, tablespace: tablespace) }
            case .fileStarted(let path, let size, let mode, let modified):
                try await each("store '\(path)'") { s in
                    try s.builder?.beginFile(path, size: size, mode: mode, modified: modified, tablespace: tablespace)
                }
                capture = tablespace == nil && (path == "backup_label" || path == "tablespace_map") ? path : nil
            case .fileData(let bytes):
                if let capture { captured[capture, default: []] += bytes }
                try await each("store file data") { s in try await s.builder?.fileData(bytes) }
                streamed += Int64(bytes.count)
                progress?(streamed)
            case .fileEnded:
                try await each("store a file") { s in try await s.builder?.endFile() }
                capture = nil
            case .manifest(let bytes):
                manifest = bytes
            case .finished(let lsn, let tli):
                stopLSN = lsn
                stopTimeline = tli
            }
        }
        guard let startLSN, let stopLSN, let timeline, let stopTimeline else {
            throw TidemarkError(.io, "the base backup stream ended before the server reported its end; the backup is incomplete")
        }
        guard let backupLabel = captured["backup_label"] else {
            throw TidemarkError(.io, "the base backup stream carried no backup_label; the backup is incomplete")
        }
        let stopped = Date()
        try await each("finish the backup") { s in
            guard let builder = s.builder else { return }
            var stored = try await builder.finish()
            stored += try await s.store.putObject(id, "blockmap", builder.blockMap, kind: .catalog)
            if let manifest { stored += try await s.store.putObject(id, "backup_manifest", manifest, kind: .catalog) }
            s.catalog = BackupCatalog(
                id: id, type: type, parent: s.parent?.id, label: label.isEmpty ? s.store.labelFromBackupLabel(backupLabel) ?? "" : label,
                startTime: started.formatted(.iso8601), stopTime: stopped.formatted(.iso8601), startLSN: startLSN, stopLSN: stopLSN,
                timeline: timeline.rawValue, stopTimeline: stopTimeline.rawValue, postgresVersion: server.postgresVersion,
                systemIdentifier: server.systemIdentifier, walSegmentSize: server.walSegmentSize, blockSize: server.blockSize,
                backupLabel: String(decoding: backupLabel, as: UTF8.self),
                tablespaceMap: captured["tablespace_map"].map { String(decoding: $0, as: UTF8.self) },
                tablespaces: tablespaces, databaseSize: builder.databaseSize, storedSize: stored,
                durationSeconds: stopped.timeIntervalSince(started), packs: builder.packs, entries: builder.entries)
        }
        // E.g. "the WAL this backup needs is archived": a backup that cannot be restored must
        // never look complete. Every repository waits at once.
        if let beforeCommit {
            let checks = live.compactMap { s in s.catalog.map { (s.target, $0) } }
            let outcomes = await withTaskGroup(of: (String, (any Error)?).self) { group in
                for (target, catalog) in checks {
                    group.addTask {
                        do { try await beforeCommit(target, catalog); return (target.name, nil) } catch { return (target.name, error) }
                    }
                }
                var out: [String: any Error] = [:]
                for await (name, error) in group { if let error { out[name] = error } }
                return out
            }
            // Required failures first, so that a required one decides the error.
            for s in live.sorted(by: { $0.target.required && !$1.target.required }) {
                if let error = outcomes[s.name] { try await fail(s, error, doing: "complete backup '\(id)'") }
            }
        }
        // Only under the lock: a backup whose lease lapsed may have lost its files to another
        // command's clean-up.
        try await each("keep the lock") { s in try await s.lease?.confirm() }
        // Required repositories commit first: if one fails, the others' catalogs are deleted again.
        for s in live.sorted(by: { $0.target.required && !$1.target.required }) {
            guard let catalog = s.catalog else { continue }
            do {
                let json = Array(try JSONEncoder().encode(catalog))
                // The catalog's own size is known only after it is written; it is not counted.
                _ = try await s.store.putObject(id, "catalog", json, kind: .catalog)
                s.committed = true
            } catch {
                try await fail(s, error, doing: "write the catalog of backup '\(id)'")
            }
        }
        return live.compactMap { s in
            s.catalog.map { RepositoryBackup(repository: s.name, catalog: $0, newBlocks: s.builder?.newBlocks ?? 0,
                                             reusedBlocks: s.builder?.reusedBlocks ?? 0) }
        }
    }
}

extension BackupStore {
    /// The LABEL line of backup_label.
    package func labelFromBackupLabel(_ label: [UInt8]) -> String? {
        for line in String(decoding: label, as: UTF8.self).split(separator: "\n") where line.hasPrefix("LABEL: ") {
            return String(line.dropFirst(7))
        }
        return nil
    }

    package func putObject(_ id: BackupID, _ name: String, _ bytes: [UInt8], kind: ObjectKind) async throws -> Int64 {
        let encoded = encodeEnvelope(bytes, key: repository.key, kind: kind, compression: .zstd).bytes
        let key = RepositoryLayout.backupObject(stanza, id, name)
        guard try await store.put(key, bytes: encoded, ifAbsent: true) == .created else {
            throw TidemarkError(.conflict, "'\(store.location)/\(key)' already exists")
        }
        return Int64(encoded.count)
    }

    /// `YYYYMMDD-HHMMSS` + type letter, UTC; waits out a clash with an existing id.
    package func newID(type: BackupType, at date: Date) async throws -> BackupID {
        try await Self.newID(type: type, at: date, existing: Set(try await backupDirectories().map { $0.0.rawValue.prefix(15) }))
    }

    /// The same, avoiding the ids (their first 15 characters) in `existing`.
    package static func newID(type: BackupType, at date: Date, existing: Set<Substring>) async throws -> BackupID {
        var when = date
        for _ in 0..<5 {
            let stamp = when.formatted(.iso8601.year().month().day().dateSeparator(.omitted)) + "-"
                + when.formatted(.iso8601.time(includingFractionalSeconds: false).timeSeparator(.omitted))
            let text = String(stamp.prefix(15))
            if !existing.contains(Substring(text)), let id = BackupID(rawValue: text + (type == .full ? "F" : "I")) {
                return id
            }
            try await Task.sleep(for: .seconds(1))
            when = Date()
        }
        throw TidemarkError(.conflict, "unable to choose a backup id: backups are being taken too quickly")
    }
}
