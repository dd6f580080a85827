import TidemarkCodec
import TidemarkCore
import TidemarkSystem
import TidemarkStorage

extension TidemarkError {
    /// Translates lower-level errors into engine errors with hints. The hints hold for every
    /// command; what only one command's caller does (PostgreSQL retrying `archive_command`)
    /// is that command's to add.
    package static func wrap(_ error: any Error, doing what: String) -> TidemarkError {
        if let e = error as? TidemarkError { return e }
        if let e = error as? StorageError {
            switch e.code {
            case .noSpace:
                return TidemarkError(.io, "unable to \(what): \(e.message)",
                                     hints: ["the repository's file system is full; free space or add capacity"], cause: e)
            case .permissionDenied, .readOnly:
                return TidemarkError(.repository, "unable to \(what): \(e.message)",
                                     hints: ["the repository must be writable by the user running Tidemark (for archive_command: the PostgreSQL server user); check owner and mode (0700)"], cause: e)
            case .timeout:
                return TidemarkError(.io, "unable to \(what): \(e.message)",
                                     hints: ["the storage did not answer; check the mount or network, or raise ioTimeoutSeconds / TIDEMARK_IO_TIMEOUT"], cause: e)
            case .authentication:
                return TidemarkError(.configuration, "unable to \(what): \(e.message)",
                                     hints: ["the object store refused the credentials: check the access key id and secret (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the repository's s3 section)"], cause: e)
            case .invalidConfiguration:
                return TidemarkError(.configuration, "unable to \(what): \(e.message)", cause: e)
            case .integrity:
                return TidemarkError(.corrupt, "unable to \(what): \(e.message)",
                                     hints: ["the store did not hold what was written; nothing was reported as stored"], cause: e)
            default:
                return TidemarkError(.io, "unable to \(what): \(e.message)", cause: e)
            }
        }
        if let e = error as? EnvelopeError {
            switch e.code {
            case .keyMismatch:
                // The key opened the repository config, so the object is not this repository's.
                return TidemarkError(.corrupt, "unable to \(what): the object belongs to a different repository (it is encrypted with key \(e.foundKeyID ?? "unknown"); this repository's key is \(e.expectedKeyID ?? "unknown"))",
                                     hints: ["the object, or the repository config (\(RepositoryLayout.configKey)), was copied in from another repository; restore it from a copy of this repository"],
                                     cause: e)
            case .unsupportedVersion:
                return TidemarkError(.repository, "unable to \(what): the object has format version \(e.version.map { "\($0)" } ?? "unknown"), newer than this Tidemark reads (\(EnvelopeHeader.currentVersion))",
                                     hints: ["upgrade tidemark: a newer Tidemark wrote this object; nothing is damaged"], cause: e)
            default:
                return TidemarkError(.corrupt, "unable to \(what): \(e)", cause: e)
            }
        }
        if let e = error as? KeyError {
            switch e.code {
            case .wrongPassphrase:
                return TidemarkError(.wrongKey, "unable to \(what): \(e)",
                                     hints: ["check BACKUP_ENCRYPTION_KEY / BACKUP_ENCRYPTION_KEY_FILE: it must be the key the repository was initialized with"],
                                     cause: e)
            default:
                return TidemarkError(.corrupt, "unable to \(what): \(e)", cause: e)
            }
        }
        return TidemarkError(.io, "unable to \(what): \(error)", cause: error)
    }
}

extension EnvelopeError {
    /// False for the errors that say nothing about the object's bytes: a key from another
    /// repository and a newer format (`TidemarkError.wrap` words those).
    package var isDamage: Bool {
        code != .keyMismatch && code != .unsupportedVersion
    }
}
