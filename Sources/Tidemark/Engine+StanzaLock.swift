import TidemarkRepository

extension Engine {
    /// The lock of the configured stanza in `repository`, with the configured lease and the
    /// engine's clock: `try await engine.stanzaLock(in: repository).withLease(command: "expire") { lease in ... }`.
    package func stanzaLock(in repository: Repository) -> RepositoryLock {
        RepositoryLock(store: repository.store, stanza: configuration.stanza, duration: configuration.lockLeaseSeconds,
                       clock: now, identity: .current())
    }
}
