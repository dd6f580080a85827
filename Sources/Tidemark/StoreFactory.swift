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

    /// The S3 store (TidemarkS3) for resolved settings: one field per initialiser parameter.
    /// The per-operation deadline is the configured I/O timeout: a stalled or unreachable
    /// store becomes an error within it (after retries with backoff inside it).
    package static func makeS3Store(name: String, settings: S3RepositorySettings) throws -> any ObjectStore {
        let credentials = TidemarkS3.S3Credentials(
            accessKeyID: settings.credentials.accessKeyID,
            secretAccessKey: S3Secret(String(decoding: settings.credentials.secretAccessKey.bytes, as: UTF8.self)),
            sessionToken: settings.credentials.sessionToken.map { S3Secret(String(decoding: $0.bytes, as: UTF8.self)) })
        do {
            let configuration = try S3Configuration(
                endpoint: settings.endpoint, region: settings.region, bucket: settings.bucket, prefix: settings.prefix,
                credentials: credentials, addressing: settings.addressing == .path ? .path : .virtual,
                caBundlePath: settings.caBundle, partSize: settings.partSizeMiB << 20, concurrency: settings.concurrency,
                operationDeadline: settings.timeoutSeconds, readTimeout: min(30, settings.timeoutSeconds),
                secretSource: settings.credentials.source, keyIDSource: settings.credentials.source)
            return try S3ObjectStore(configuration)
        } catch {
            throw TidemarkError(.configuration, "repository '\(name)': \(error.message)")
        }
    }
}
