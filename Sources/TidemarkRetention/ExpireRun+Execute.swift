#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkArchive
import TidemarkCore
import TidemarkPolicy
import TidemarkRepository
import TidemarkStorage

extension ExpireRun {
    /// What the execution removed.
    package struct Outcome: Sendable {
        package var backupsDeleted = 0
        package var segmentsDeleted = 0
        package var objectsDeleted = 0
        package var bytesFreed: Int64 = 0
        package init() {}
    }

    /// WAL objects per delete call: consecutive batches keep the order "oldest first".
    static let walBatch = 1000

    /// Finishes deletions an interrupted run left (their marks are authenticated by `read`).
    package func resume(_ pending: [DeletionMarker], lease: Lease) async throws -> Outcome {
        var outcome = Outcome()
        for marker in pending {
            try lease.checkHeld()
            let removed = try await call("finish deleting backup '\(marker.id)'") { try await backups.finishDeletion(marker.id) }
            outcome.objectsDeleted += removed.objects
            outcome.bytesFreed += removed.bytes
        }
        return outcome
    }

    /// Carries out `plan`: marks every backup it deletes (from then on they are not listed,
    /// planned or restored), removes each (data, catalog, directory, mark), then the WAL,
    /// oldest segment first, so what is kept never has a gap. Backups go newest first, so a
    /// run killed while marking never leaves a backup listed whose parent is marked (a pin put
    /// on it before the next run would otherwise keep a backup whose parent that run deletes).
    package func execute(_ plan: Plan, lease: Lease, command: String) async throws -> Outcome {
        var outcome = Outcome()
        let ids = plan.retention.deletedBackups.sorted { ($0.endTime, $0.id) > ($1.endTime, $1.id) }.compactMap { BackupID(rawValue: $0.id) }
        let started = PostgresTimestamp(unixSeconds: now).iso8601
        for id in ids {
            try lease.checkHeld()
            try await call("mark backup '\(id)' for deletion") {
                try await backups.markForDeletion(DeletionMarker(id: id, command: command, startedAt: started))
            }
        }
        for id in ids {
            try lease.checkHeld()
            let removed = try await call("delete backup '\(id)'") { try await backups.finishDeletion(id) }
            outcome.backupsDeleted += 1
            outcome.objectsDeleted += removed.objects
            outcome.bytesFreed += removed.bytes
        }
        var segments = Set<String>()
        var i = 0
        while i < plan.walObjects.count {
            try lease.checkHeld()
            let batch = Array(plan.walObjects[i..<min(i + Self.walBatch, plan.walObjects.count)])
            try await call("delete expired WAL") { try await store.deleteMany(batch.map(\.key)) }
            for o in batch {
                outcome.objectsDeleted += 1
                outcome.bytesFreed += o.size
                let base = o.key.split(separator: "/").last.map(String.init) ?? ""
                if base.utf8.count == 24, o.key.hasPrefix(RepositoryLayout.walPrefix(stanza)) { segments.insert(base) }
            }
            i += Self.walBatch
        }
        outcome.segmentsDeleted = segments.count
        // Records of restores that ended.
        if let ended = try? await backups.endedReaders(now: Date(timeIntervalSince1970: TimeInterval(now))), !ended.isEmpty {
            try? await store.deleteMany(ended)
        }
        return outcome
    }

    package func call<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as TidemarkError {
            throw e
        } catch {
            throw TidemarkError.wrap(error, doing: "\(what) in '\(store.location)'")
        }
    }
}
