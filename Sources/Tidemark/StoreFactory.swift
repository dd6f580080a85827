import TidemarkS3
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCore
import TidemarkCodec

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

    /// The S3 store (TidemarkS3) for settings its resolution produced (`S3Configuration(settings)`).
    package static func makeS3Store(name: String, settings: S3RepositorySettings) throws -> any ObjectStore {
        do {
            return try S3ObjectStore(S3Configuration(settings))
        } catch {
            throw TidemarkError(.configuration, "repository '\(name)': \(error.message)")
        }
    }
}
