import TidemarkArchive
import TidemarkCore
import TidemarkRepository

extension Engine {
    /// The resident archiver's push of `path` (docs/archiver.md): the same rules as `walPush`
    /// — exit 0 only when every required repository holds a durable, verified copy, an
    /// identical copy there is success, a different one a conflict — with every repository
    /// opened once for the engine's lifetime, so the key is unwrapped once, not per segment.
    /// Returns the lines `wal-push` would print (notices, optional repositories' alerts).
    package func walPushKeepingRepositoriesOpen(path: String) async throws -> [String] {
        try checkOwnership(command: "archiver")
        let passphrase = try configuration.requireKey()
        try await reopenReplacedRepositories()
        let prepared = try PreparedWALFile.open(path: path)
        return try await prepared.use { file in
            var push = MultiPush(engine: self, passphrase: passphrase, file: file)
            push.keepOpen = true
            return try await push.run()
        }
    }

    /// A repository kept open must still be the one on the store: when its config object is not
    /// the one seen at opening (the repository was re-initialized, or its key slots changed),
    /// it is forgotten and opened again, so nothing is ever sealed under a key the repository
    /// no longer has. One small read per repository and push.
    package func reopenReplacedRepositories() async throws {
        for spec in configuration.repositories {
            let current = (try? await store(for: spec).get(RepositoryLayout.configKey)) ?? nil
            let known = repositories.configBytes(named: spec.name)
            if repositories.opened(named: spec.name) != nil {
                if let known, let current, known == current { continue }
                repositories.forget(named: spec.name)
                logger.notice("repository config changed: opening it again", metadata: ["repository": "\(spec.name)"])
            }
            // Read before the open that follows: a change in between is seen by the next check.
            if let current { repositories.rememberConfigBytes(current, named: spec.name) }
        }
    }
}
