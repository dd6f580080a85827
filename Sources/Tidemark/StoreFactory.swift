import TidemarkStorage

/// The one place a repository entry becomes an `ObjectStore`. Everything else in the engine
/// works through `ObjectStore` and does not know which kind of store it has.
public enum StoreFactory {
    /// The store of `spec`. Throws a configuration error when this build cannot reach it.
    public static func makeStore(for spec: RepositorySpec, configuration: Configuration) throws -> any ObjectStore {
        switch spec.type {
        case .posix:
            return FileSystemStore(root: spec.path, timeout: configuration.ioTimeoutSeconds)
        case .s3:
            guard let settings = configuration.s3Settings[spec.name] else {
                throw TidemarkError(.configuration, "repository '\(spec.name)': its S3 settings were not resolved",
                                    hints: ["load the configuration with ConfigurationLoader.load"])
            }
            return try makeS3Store(name: spec.name, settings: settings)
        }
    }

    /// The S3 store plugs in here (target TidemarkS3): one `S3RepositorySettings` field per
    /// initialiser parameter — bucket, prefix, endpoint, region, addressing, credentials,
    /// caBundle, partSizeMiB, concurrency, timeoutSeconds.
    static func makeS3Store(name: String, settings: S3RepositorySettings) throws -> any ObjectStore {
        _ = settings
        throw TidemarkError(.configuration, "repository '\(name)': S3 support is not linked into this build",
                            hints: ["use a build of Tidemark that includes S3 support, or remove repository '\(name)' (AWS_BACKUP_BUCKET / type \"s3\")"])
    }
}
