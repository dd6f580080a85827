import PostgresReplication
import TidemarkCore
import TidemarkSystem

/// Adapts PostgresReplication's BASE_BACKUP events to the engine's input.
package struct ReplicationBackupSource: BackupInputSource {
    package let stream: BaseBackupStream
    /// Set from the server's tablespace size estimates (PROGRESS).
    package let total: TotalEstimate

    package mutating func next() async throws -> BackupInput? {
        while true {
            guard let event = try await stream.next() else { return nil }
            switch event {
            case .started(let lsn, let tli): return .started(startLSN: lsn, timeline: tli)
            case .tablespaces(let list):
                total.set(list.reduce(Int64(0)) { $0 + ($1.estimatedSizeKiB ?? 0) * 1024 })
                return .tablespaces(list.compactMap { t in
                    guard let oid = t.oid, let location = t.location else { return nil }
                    return CatalogTablespace(oid: oid, location: location)
                })
            case .archiveStarted(let name, _):
                if name.hasPrefix("base.tar") { return .archive(tablespace: nil) }
                guard let oid = UInt32(name.prefix { $0 != "." }) else {
                    throw TidemarkError(.io, "the server sent an archive named '\(name)', which is neither base.tar nor <oid>.tar")
                }
                return .archive(tablespace: oid)
            case .directory(let path, let mode): return .directory(path: path, mode: mode)
            case .symlink(let path, let target): return .symlink(path: path, target: target)
            case .fileStarted(let path, let size, let mode, let modified):
                return .fileStarted(path: path, size: size, mode: mode, modified: modified)
            case .fileData(let bytes): return .fileData(bytes)
            case .fileEnded: return .fileEnded
            case .manifest(let bytes): return .manifest(bytes)
            case .finished(let lsn, let tli): return .finished(stopLSN: lsn, timeline: tli)
            case .archiveEnded: continue
            case .progress:
                continue
            }
        }
    }

    package init(stream: BaseBackupStream, total: TotalEstimate) {
        self.stream = stream
        self.total = total
    }
}

extension TidemarkError {
    /// Replication failures with what to do about them.
    package static func from(_ error: ReplicationError, conninfoHint: String) -> TidemarkError {
        var hints = error.hints
        switch error.code {
        case .noHBAEntry:
            hints.append("add to pg_hba.conf: host  all  <user>  127.0.0.1/32  scram-sha-256 (a replication=database connection matches by database name), then SELECT pg_reload_conf()")
        case .noReplicationPermission:
            hints.append("ALTER ROLE <user> REPLICATION; (or connect as a role that has it)")
        case .tooManyWalSenders:
            hints.append("raise max_wal_senders (restart needed) or stop an idle replication client")
        case .walLevelTooLow:
            hints.append("set wal_level = replica (restart needed)")
        case .connectionFailed, .timeout:
            let at = error.endpoint.map { " at \($0)" } ?? ""
            hints.append("check the server is running and reachable\(at)" + (conninfoHint.isEmpty ? "" : " (connection settings: \(conninfoHint))"))
        default:
            break
        }
        var unique: [String] = []
        for h in hints where !unique.contains(where: { $0.lowercased() == h.lowercased() }) { unique.append(h) }
        switch error.code {
        case .noHBAEntry, .noReplicationPermission, .authenticationFailed, .walLevelTooLow, .invalidArgument:
            return TidemarkError(.configuration, error.message, hints: unique)
        default:
            return TidemarkError(.io, error.message, hints: unique)
        }
    }
}

package final class TotalEstimate: Sendable {
    package init() {}
    private let estimate = LockedBox<Int64?>(nil)
    package func set(_ v: Int64) { if v > 0 { estimate.mutate { $0 = v } } }
    package var value: Int64? { estimate.value }
}
