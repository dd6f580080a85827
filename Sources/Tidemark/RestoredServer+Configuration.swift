#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkBackup
import TidemarkCore
import TidemarkS3
import TidemarkCodec
import TidemarkStorage

extension RestoredServerConfiguration {
    /// Builds the file from a loaded configuration. Throws (configuration, exit 3) when a
    /// secret exists only in this shell's environment or inline: the restored server could not
    /// find it, and restore never writes a secret to disk. Nothing is written here.
    public init(_ configuration: Configuration, dataDirectory: String, executable: String) throws {
        guard let keyFile = configuration.keyFile else {
            throw TidemarkError(.configuration,
                                "the encryption key comes from \(configuration.keySource), which the restored server will not have: its restore_command could not read the archive",
                                hints: ["put the key in a file only the server user can read and name it in BACKUP_ENCRYPTION_KEY_FILE (or encryptionKeyFile), e.g.: (umask 077; printf '%s' \"$BACKUP_ENCRYPTION_KEY\" > /etc/tidemark/key); export BACKUP_ENCRYPTION_KEY_FILE=/etc/tidemark/key; unset BACKUP_ENCRYPTION_KEY",
                                        "tidemark restore never writes a key to disk itself"])
        }
        var file = ConfigFile()
        file.stanza = configuration.stanza
        file.encryptionKeyFile = keyFile
        file.compression = configuration.compression
        file.ioTimeoutSeconds = configuration.ioTimeoutSeconds
        file.prefetchSegments = configuration.prefetchSegments
        file.spoolPath = configuration.spoolPath
        var repositories: [RepositorySpec] = []
        for spec in configuration.repositories {
            var entry = RepositorySpec(name: spec.name, type: spec.type, path: spec.path, required: spec.required, s3: nil)
            if spec.type == .s3 {
                guard let s = configuration.s3Settings[spec.name] else {
                    throw TidemarkError(.configuration, "repository '\(spec.name)' (s3) has no resolved settings")
                }
                guard s.credentials.sessionToken == nil else {
                    throw TidemarkError(.configuration,
                                        "repository '\(spec.name)' uses temporary credentials (AWS_SESSION_TOKEN), which expire and which the restored server will not have",
                                        hints: ["restore with a long-lived access key whose secret is in a file: AWS_SECRET_ACCESS_KEY_FILE or s3.secretAccessKeyFile"])
                }
                guard let secretFile = s.credentials.secretFile else {
                    throw TidemarkError(.configuration,
                                        "the S3 secret of repository '\(spec.name)' comes from \(s.credentials.source), which the restored server will not have: its restore_command could not read the archive",
                                        hints: ["put the secret in a file only the server user can read and name it in AWS_SECRET_ACCESS_KEY_FILE (or s3.secretAccessKeyFile), e.g.: (umask 077; printf '%s' \"$AWS_SECRET_ACCESS_KEY\" > /etc/tidemark/s3.secret); export AWS_SECRET_ACCESS_KEY_FILE=/etc/tidemark/s3.secret; unset AWS_SECRET_ACCESS_KEY",
                                                "tidemark restore never writes a secret to disk itself"])
                }
                var section = S3Section(bucket: s.bucket, prefix: s.prefix, endpoint: s.endpoint, region: s.region)
                section.addressing = s.addressing.rawValue
                section.caBundle = s.caBundle
                section.accessKeyId = s.credentials.accessKeyID
                section.secretAccessKeyFile = secretFile
                section.partSizeMiB = s.partSizeMiB
                section.concurrency = s.concurrency
                // With --archive-mode preserve the restored server archives here: same locks.
                section.objectLock = s.objectLock.map { .init(mode: $0.mode.rawValue, days: $0.days) }
                entry.s3 = section
            }
            repositories.append(entry)
        }
        file.repositories = repositories
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let bytes: [UInt8]
        do {
            bytes = Array(try encoder.encode(file)) + [10]
        } catch {
            throw TidemarkError(.io, "unable to write the restored server's configuration: \(error)")
        }
        self.init(path: RestoreTargets.normalize(dataDirectory) + "/" + Self.fileName, bytes: bytes, executable: executable,
                  stanza: configuration.stanza)
    }
}
