#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkStorage

/// The result of `takeBackup`, with notices for the operator.
public struct BackupResult: Sendable {
    public var catalog: BackupCatalog
    public var notices: [String]
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
        let lock = try await self.lock()
        do {
            let result = try await takeLocked(type: requested, label: label, server: server, source: &source,
                                              compression: compression, compressionLevel: compressionLevel, progress: progress,
                                              beforeCommit: beforeCommit)
            await lock.release()
            return result
        } catch {
            await lock.release()
            throw error
        }
    }

    private func takeLocked(type requested: BackupType, label: String, server: ServerFacts,
                            source: inout some BackupInputSource, compression: CompressionAlgorithm,
                            compressionLevel: Int32?, progress: (@Sendable (Int64) -> Void)?,
                            beforeCommit: (@Sendable (BackupCatalog) async throws -> Void)?) async throws -> BackupResult {
        var notices: [String] = []
        let removed = try await removeIncomplete()
        if !removed.isEmpty {
            notices.append("removed incomplete backup(s) left by an interrupted run: " + removed.map(\.rawValue).joined(separator: ", "))
        }
        var type = requested
        var parent: BackupCatalog?
        if type == .incremental {
            parent = try await catalogs().last { $0.systemIdentifier == server.systemIdentifier && $0.blockSize == server.blockSize }
            if parent == nil {
                notices.append("no earlier backup of this cluster to base an incremental on: taking a full backup")
                type = .full
            }
        }
        let started = Date()
        let id = try await newID(type: type, at: started)
        var known: [BlockHash: BlockLocation] = [:]
        if let parent { known = try await knownBlocks(of: parent) }
        let builder = BackupBuilder(repository: repository, stanza: stanza, id: id, blockSize: server.blockSize,
                                    compression: compression, compressionLevel: compressionLevel,
                                    parentPacks: parent?.packs ?? [], known: known)
        var startLSN: LSN?, stopLSN: LSN?
        var timeline: TimelineID?, stopTimeline: TimelineID?
        var tablespaces: [CatalogTablespace] = []
        var tablespace: UInt32?
        var manifest: [UInt8]?
        var capture: String?
        var captured: [String: [UInt8]] = [:]
        var streamed: Int64 = 0
        do {
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
                    builder.directory(path, mode: mode, tablespace: tablespace)
                case .symlink(let path, let target):
                    builder.symlink(path, target: target, tablespace: tablespace)
                case .fileStarted(let path, let size, let mode, let modified):
                    try builder.beginFile(path, size: size, mode: mode, modified: modified, tablespace: tablespace)
                    capture = tablespace == nil && (path == "backup_label" || path == "tablespace_map") ? path : nil
                case .fileData(let bytes):
                    if let capture { captured[capture, default: []] += bytes }
                    try await builder.fileData(bytes)
                    streamed += Int64(bytes.count)
                    progress?(streamed)
                case .fileEnded:
                    try await builder.endFile()
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
            let ownPacks = try await builder.finish()
            var stored = ownPacks
            stored += try await putObject(id, "blockmap", builder.blockMap, kind: .catalog)
            if let manifest { stored += try await putObject(id, "backup_manifest", manifest, kind: .catalog) }
            let stopped = Date()
            let catalog = BackupCatalog(
                id: id, type: type, parent: parent?.id, label: label.isEmpty ? labelFromBackupLabel(backupLabel) ?? "" : label, startTime: started.formatted(.iso8601),
                stopTime: stopped.formatted(.iso8601), startLSN: startLSN, stopLSN: stopLSN, timeline: timeline.rawValue,
                stopTimeline: stopTimeline.rawValue, postgresVersion: server.postgresVersion,
                systemIdentifier: server.systemIdentifier, walSegmentSize: server.walSegmentSize, blockSize: server.blockSize,
                backupLabel: String(decoding: backupLabel, as: UTF8.self),
                tablespaceMap: captured["tablespace_map"].map { String(decoding: $0, as: UTF8.self) },
                tablespaces: tablespaces, databaseSize: builder.databaseSize, storedSize: stored,
                durationSeconds: stopped.timeIntervalSince(started), packs: builder.packs, entries: builder.entries)
            // E.g. "the WAL this backup needs is archived": a backup that cannot be restored
            // must never look complete.
            try await beforeCommit?(catalog)
            let json = Array(try JSONEncoder().encode(catalog))
            // The catalog's own size is known only after it is written; it is not counted.
            _ = try await putObject(id, "catalog", json, kind: .catalog)
            return BackupResult(catalog: catalog, notices: notices, newBlocks: builder.newBlocks, reusedBlocks: builder.reusedBlocks)
        } catch {
            await builder.abort()
            throw TidemarkError.wrap(error, doing: "take backup '\(id)'")
        }
    }

    /// The LABEL line of backup_label.
    func labelFromBackupLabel(_ label: [UInt8]) -> String? {
        for line in String(decoding: label, as: UTF8.self).split(separator: "\n") where line.hasPrefix("LABEL: ") {
            return String(line.dropFirst(7))
        }
        return nil
    }

    func putObject(_ id: BackupID, _ name: String, _ bytes: [UInt8], kind: ObjectKind) async throws -> Int64 {
        let encoded = encodeEnvelope(bytes, key: repository.key, kind: kind, compression: .zstd).bytes
        let key = RepositoryLayout.backupObject(stanza, id, name)
        guard try await store.put(key, bytes: encoded, ifAbsent: true) == .created else {
            throw TidemarkError(.conflict, "'\(store.location)/\(key)' already exists")
        }
        return Int64(encoded.count)
    }

    /// `YYYYMMDD-HHMMSS` + type letter, UTC; waits out a clash with an existing id.
    func newID(type: BackupType, at date: Date) async throws -> BackupID {
        var when = date
        let existing = Set(try await backupDirectories().map { $0.0.rawValue.prefix(15) })
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
