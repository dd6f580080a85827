import TidemarkCore
import TidemarkRepository
import TidemarkSystem
import TidemarkArchive
import TidemarkBackup
import TidemarkCodec
import TidemarkStorage

extension ConfigurationLoader {
    /// `lockLeaseSeconds` from the file, overridden by TIDEMARK_LOCK_LEASE_SECONDS.
    package static func lockLease(file: ConfigFile, environment env: [String: String]) throws -> Double {
        var seconds = file.lockLeaseSeconds ?? 60
        if let text = env["TIDEMARK_LOCK_LEASE_SECONDS"], !text.isEmpty {
            guard let v = Double(text) else {
                throw TidemarkError(.configuration, "TIDEMARK_LOCK_LEASE_SECONDS '\(text)' is not a number of seconds")
            }
            seconds = v
        }
        guard seconds >= 1, seconds <= 86400 else {
            throw TidemarkError(.configuration, "lock lease of \(seconds) s is out of range", hints: ["use 1 to 86400 seconds (lockLeaseSeconds / TIDEMARK_LOCK_LEASE_SECONDS)"])
        }
        return seconds
    }
}

extension Engine {
    /// The lock of the configured stanza in `repository`, with the configured lease and the
    /// engine's clock: `try await engine.stanzaLock(in: repository).withLease(command: "expire") { lease in ... }`.
    package func stanzaLock(in repository: Repository) -> RepositoryLock {
        RepositoryLock(store: repository.store, stanza: configuration.stanza, duration: configuration.lockLeaseSeconds,
                       clock: now, identity: .current())
    }
}
