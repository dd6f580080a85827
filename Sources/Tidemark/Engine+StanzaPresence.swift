import TidemarkAudit
import TidemarkCore
import TidemarkRepository
import TidemarkStorage

extension Engine {
    /// Refuses a command that takes the stanza lock (backup, expire, delete, pin, unpin, the
    /// key commands, verify and its --repair) when the configured stanza exists in no configured
    /// repository (also with `--repo`: the others count),
    /// before anything is written: the lock alone would otherwise leave `<typo>/lock/` behind.
    ///
    /// A stanza exists where it holds anything but a lock (its first archived segment or first
    /// backup writes `stanza.info`; a lock alone is what an earlier typo left). One that exists in any
    /// repository may be written in the others (a repository added later: `backup` and
    /// `verify --repair` fill it). With `mayStartFirst` (backup, key
    /// commands), a command may also run when no repository holds any stanza yet: the first
    /// backup of a new installation creates its stanza.
    package func requireStanza(command: String, mayStartFirst: Bool) async throws {
        let stanza = configuration.stanza
        var others: Set<String> = []
        let specs = configuration.repositories
        for spec in specs {
            do {
                let store = try store(for: spec)
                // Not initialized, missing, unmounted: the command reports that itself.
                guard try await store.size(RepositoryLayout.configKey) != nil else { return }
                if try await Self.holdsStanza(stanza, store) { return }
                for prefix in try await store.list(prefix: "").prefixes {
                    let other = String(prefix.dropLast())
                    if try await Self.holdsStanza(other, store) { others.insert(other) }
                }
            } catch {
                // Absence is not proven where a repository cannot be read: the command meets
                // that repository's error itself.
                return
            }
        }
        if specs.isEmpty || (others.isEmpty && mayStartFirst) { return }
        let repositories = specs.map { "'\($0.name)'" }.joined(separator: ", ")
        let existing = others.isEmpty ? "they hold no stanza yet" : "stanzas there: " + others.sorted().joined(separator: ", ")
        throw TidemarkError(.configuration, "stanza '\(stanza)' does not exist in \(specs.count == 1 ? "repository" : "repositories") \(repositories) (\(existing)); \(command) refused, nothing was written",
                            hints: ["check the stanza name: --stanza, TIDEMARK_STANZA or \"stanza\" in the configuration file"
                                        + (others.isEmpty ? "" : " (one of: \(others.sorted().joined(separator: ", ")))"),
                                    "a new stanza is created by its first archived WAL segment (archive_command = 'tidemark --stanza \(stanza) wal-push %p'; `tidemark check` switches WAL and waits for it) after `tidemark init` of its repository"])
    }

    /// `<stanza>/` holds something other than `lock/` and `audit/` (the audit log records
    /// refused commands too).
    package static func holdsStanza(_ stanza: String, _ store: any ObjectStore) async throws -> Bool {
        let listing = try await store.list(prefix: stanza + "/")
        return !listing.objects.isEmpty
            || listing.prefixes.contains { $0 != RepositoryLayout.lockPrefix(stanza) && $0 != AuditLog.prefix(stanza) }
    }
}
