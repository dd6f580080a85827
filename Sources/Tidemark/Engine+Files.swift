#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCore
import TidemarkFiles
import TidemarkRepository

/// What `files backup` did.
public struct FilesBackupResult: Sendable {
    public var snapshot: FilesSnapshot
    /// The repositories the snapshot was written to.
    public var repositories: [String]
    /// The configured paths that are unreadable now (also listed in the snapshot), and a WAL
    /// position that could not be recorded.
    public var warnings: [String]
}

extension Engine {
    /// `tidemark files backup`: walks `files.paths` (docs/files.md) under the stanza lock of every
    /// file repository, stores chunks and trees in all of them, flushes, then writes the
    /// snapshot to each. `incremental` takes the newest snapshot as parent (a full one when there
    /// is none). Nothing half-written: a snapshot exists only once everything it names is durable.
    public func filesBackup(type: FilesSnapshot.Kind, label: String?, databaseBackupID: String? = nil) async throws -> FilesBackupResult {
        let settings = configuration.files
        guard settings.isConfigured else {
            throw TidemarkError(.configuration, "no file storage to back up: files.paths is empty",
                                hints: ["list the directories in the config file's files section, e.g. \"files\": {\"paths\": [\"/srv/app/public/uploads\"]}, or set TIDEMARK_FILES_PATHS"])
        }
        var warnings = try settings.checkPaths()
        let repositories = try await filesRepositories()
        var leases: [Lease] = []
        do {
            for r in repositories { leases.append(try await stanzaLock(in: r.repository).acquire(command: "files backup")) }
            let store = try await RepositoryChunkStore.open(stanza: configuration.stanza, repositories: repositories.map(Self.filesRepository))
            let parent = type == .incremental ? try await filesSnapshots().last : nil
            let options = FilesBackupOptions(paths: settings.paths, exclude: settings.excludes, oneFileSystem: settings.oneFileSystem,
                                             failOnUnreadable: settings.failOnUnreadable, kind: type, label: label)
            let run = FilesBackupRun(options: options, sink: store, source: store,
                                     chunking: FilesCDCChunking(chunker: store.makeChunker()), parent: parent)
            // The WAL positions around the walk; a database that cannot be asked costs one warning.
            let walStart = await filesWALPosition()
            var snapshot: FilesSnapshot
            do {
                snapshot = try await run.run(time: Self.nanoseconds(now()))
            } catch {
                await store.abort()
                throw TidemarkError.wrap(error, doing: "back up files")
            }
            snapshot.databaseBackupID = databaseBackupID
            switch walStart {
            case .success(let lsn):
                snapshot.walStart = lsn.description
                switch await filesWALPosition() {
                case .success(let end): snapshot.walEnd = end.description
                case .failure(let e): warnings.append(Self.filesWALWarning("end position", e))
                }
            case .failure(let e): warnings.append(Self.filesWALWarning("start and end positions", e))
            }
            for lease in leases { try lease.checkHeld() }
            for r in repositories {
                try await FilesSnapshotStore(store: r.store, key: r.key, stanza: configuration.stanza).write(snapshot)
            }
            for lease in leases { await lease.release() }
            return FilesBackupResult(snapshot: snapshot, repositories: repositories.map(\.name), warnings: warnings)
        } catch {
            for lease in leases { await lease.release() }
            throw error
        }
    }

    /// Every file snapshot of the stanza in any file repository (by id, read from the first
    /// that has it), oldest first.
    public func filesSnapshots() async throws -> [FilesSnapshot] {
        var byID: [String: FilesSnapshot] = [:]
        for r in try await filesRepositories() {
            for s in try await FilesSnapshotStore(store: r.store, key: r.key, stanza: configuration.stanza).readAll() where byID[s.id] == nil {
                byID[s.id] = s
            }
        }
        return byID.values.sorted { ($0.time, $0.id) < ($1.time, $1.id) }
    }

    /// The snapshot `id`, or (nil) the newest at or before `asOf`, or the newest of all.
    public func filesSnapshot(id: String?, asOf: Date?) async throws -> FilesSnapshot {
        try filesSnapshot(id: id, asOf: asOf, among: try await filesSnapshots())
    }

    /// `filesSnapshot(id:asOf:)` among snapshots already read.
    func filesSnapshot(id: String?, asOf: Date?, among all: [FilesSnapshot]) throws -> FilesSnapshot {
        if let id {
            guard FilesSnapshot.isValidID(id) else {
                throw TidemarkError(.invalidInput, "'\(id)' is not a file snapshot id", hints: ["ids are 32 hex digits; 'tidemark files list' shows them"])
            }
            guard let s = all.first(where: { $0.id == id }) else {
                throw TidemarkError(.notFound, "file snapshot '\(id)' does not exist in stanza '\(configuration.stanza)'",
                                    hints: ["'tidemark files list' shows the snapshots"])
            }
            return s
        }
        if let asOf {
            guard let s = FilesSnapshot.newest(of: all, atOrBefore: Self.nanoseconds(asOf)) else {
                throw TidemarkError(.notFound, "no file snapshot of stanza '\(configuration.stanza)' was taken at or before \(asOf.formatted(.iso8601))",
                                    hints: [all.first.map { "the oldest is \($0.id), taken \(Self.date($0.time).formatted(.iso8601))" } ?? "no file snapshot exists: run 'tidemark files backup'"])
            }
            return s
        }
        guard let s = all.last else {
            throw TidemarkError(.notFound, "no file snapshot exists in stanza '\(configuration.stanza)'", hints: ["run 'tidemark files backup' first"])
        }
        return s
    }

    /// `tidemark files restore`: the snapshot's trees and files below `options.target`.
    public func filesRestore(snapshot: FilesSnapshot, options: FilesRestoreOptions) async throws -> FilesRestoreReport {
        let store = try await filesChunkSource()
        return try await FilesRestoreRun(snapshot: snapshot, source: store, options: options).run()
    }

    /// `tidemark files diff A B`.
    public func filesDiff(_ a: String, _ b: String) async throws -> [FilesChange] {
        // Every snapshot object is read once for both ids.
        let all = try await filesSnapshots()
        let old = try filesSnapshot(id: a, asOf: nil, among: all)
        let new = try filesSnapshot(id: b, asOf: nil, among: all)
        return try await FilesDiff.diff(old, new, source: try await filesChunkSource())
    }

    private func filesChunkSource() async throws -> RepositoryChunkStore {
        try await RepositoryChunkStore.open(stanza: configuration.stanza, repositories: try await filesRepositories().map(Self.filesRepository))
    }

    static func filesRepository(_ r: OpenedFilesRepository) -> FilesRepository {
        FilesRepository(name: r.name, store: r.store, key: r.key)
    }

    public static func nanoseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1e9).rounded()) }
    public static func date(_ nanoseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(nanoseconds) / 1e9) }
}
