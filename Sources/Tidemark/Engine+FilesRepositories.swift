import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage

/// One repository file backups write to and restores read from.
public struct OpenedFilesRepository: Sendable {
    /// The repository's name (`files` for FILE_BACKUP_DIR's).
    public var name: String
    public var spec: RepositorySpec
    /// The store and the data key, opened.
    public var repository: Repository
    /// A file backup fails when a required repository fails (as wal-push and backup do).
    public var required: Bool { spec.required }
    public var store: any ObjectStore { repository.store }
    public var key: RepositoryKey { repository.key }
}

extension Engine {
    /// The repositories of file backups, not opened: FILE_BACKUP_DIR's own repository when
    /// it is separate, else every configured repository (docs/files.md).
    public var filesRepositorySpecs: [RepositorySpec] { configuration.files.repositories(of: configuration) }

    /// Every repository file backups write to, opened with the configured key (each once per
    /// engine, shared with the database commands when they are the same repositories).
    ///
    /// FILE_BACKUP_DIR's repository is never created here: `tidemark init` creates it
    /// beside the others (`tidemark init --repo files` alone, when the others exist), so a
    /// mistyped directory is an error and not a new, empty repository restores never look in.
    public func filesRepositories() async throws -> [OpenedFilesRepository] {
        let passphrase = try configuration.requireKey()
        var out: [OpenedFilesRepository] = []
        for spec in filesRepositorySpecs {
            out.append(OpenedFilesRepository(name: spec.name, spec: spec, repository: try await openFilesRepository(spec, passphrase: passphrase)))
        }
        return out
    }

    /// `spec` opened; FILE_BACKUP_DIR's repository, when missing, with the hint that creates it.
    package func openFilesRepository(_ spec: RepositorySpec, passphrase: Secret) async throws -> Repository {
        guard spec == configuration.files.separateRepository else { return try await open(spec, passphrase: passphrase) }
        do {
            return try await open(spec, passphrase: passphrase)
        } catch let error as TidemarkError where error.code == .repository {
            guard try await Repository.readConfig(store: store(for: spec)) == nil else { throw error }
            throw TidemarkError(.repository, "the file backup repository '\(spec.path)' (FILE_BACKUP_DIR) does not exist or is not initialized",
                                hints: ["create it once with the configured key: tidemark init --repo \(spec.name)",
                                        "or fix FILE_BACKUP_DIR if the storage is not mounted"])
        }
    }

    /// The repositories `tidemark init` creates: the configured ones, then FILE_BACKUP_DIR's.
    package var initializableRepositories: [RepositorySpec] {
        configuration.repositories + (configuration.files.separateRepository.map { [$0] } ?? [])
    }
}
