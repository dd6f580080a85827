#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCore
import TidemarkRepository
import TidemarkSystem

extension Engine {
    /// `tidemark pin ID [--reason TEXT]` (and `unpin ID` with `reason` nil and `remove`): in
    /// every repository holding the backup (or only `repository`), under the stanza lock.
    /// Returns one line per repository changed.
    public func pin(_ text: String, reason: String?, remove: Bool = false, repository only: String? = nil) async throws -> [String] {
        guard let id = BackupID(rawValue: text) else {
            throw TidemarkError(.invalidInput, "'\(text)' is not a backup id", hints: ["backup ids look like 20261126-153000F; `tidemark list` shows them"])
        }
        if let reason, reason.utf8.count > 1000 || reason.utf8.contains(where: { $0 < 32 }) {
            throw TidemarkError(.invalidInput, "the pin's reason must be one line of at most 1000 bytes")
        }
        let passphrase = try configuration.requireKey()
        let specs = try only.map { [try configuration.repository(named: $0)] } ?? configuration.repositories
        let command = remove ? "unpin" : "pin"
        let by = "\(OSUser.current.name)@\(HostIdentity.current().host)"
        let at = PostgresTimestamp(unixSeconds: Int64(now().timeIntervalSince1970.rounded(.down))).iso8601
        try await requireStanza(command: command, mayStartFirst: false)
        var lines: [String] = []
        for spec in specs {
            let repo = try await open(spec, passphrase: passphrase)
            let store = BackupStore(repository: repo, stanza: configuration.stanza)
            let line: String? = try await stanzaLock(in: repo).withLease(command: command) { lease in
                guard (try? await store.catalog(id)) != nil else { return nil }
                if !remove, try await store.pendingDeletions().contains(where: { $0.id == id }) {
                    throw TidemarkError(.invalidInput, "backup \(id) is being deleted in repository '\(spec.name)' (an interrupted expire or delete): it cannot be pinned",
                                        hints: ["`tidemark list` shows the backups that can be pinned"])
                }
                try lease.checkHeld()
                if remove {
                    guard try await store.readPin(id) != nil else { return "backup \(id) was not pinned in repository '\(spec.name)'" }
                    try await store.removePin(id)
                    return "unpinned backup \(id) in repository '\(spec.name)'"
                }
                try await store.writePin(BackupPin(id: id, reason: reason ?? "", pinnedAt: at, by: by))
                return "pinned backup \(id) in repository '\(spec.name)'" + (reason.map { ": \($0)" } ?? "")
            }
            if let line { lines.append(line) }
        }
        guard !lines.isEmpty else {
            throw TidemarkError(.notFound, "backup '\(id)' does not exist in stanza '\(configuration.stanza)'",
                                hints: ["`tidemark list` shows the backups"])
        }
        return lines
    }
}
