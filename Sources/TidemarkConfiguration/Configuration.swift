#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TidemarkCodec
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCore
import TidemarkS3
import TidemarkPolicy
import TidemarkNotify

/// One place archives and backups are written to (an entry of `repositories`).
///
/// `path` is required for `posix` and absent for `s3` (where it is ""); `s3` holds the
/// file's S3 section as written, resolved into `S3RepositorySettings` (TidemarkS3) by the loader.
public struct RepositorySpec: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable { case posix, s3 }
    public var name: String
    public var type: Kind
    public var path: String
    /// wal-push and backup fail when a required repository fails; an optional one that fails
    /// raises an alert instead.
    public var required: Bool = true
    public var s3: S3Section? = nil
    /// This repository's own retention (over the file's top-level one): docs/retention.md.
    public var retention: RetentionSection? = nil
    /// The space this repository may use, for the storage alert and metrics where the store
    /// cannot say (S3); a file-system repository is measured with statvfs.
    public var quotaBytes: Int64? = nil

    package enum CodingKeys: String, CodingKey, CaseIterable { case name, type, path, required, s3, retention, quotaBytes }

    package init(name: String, type: Kind, path: String, required: Bool = true, s3: S3Section? = nil,
                 retention: RetentionSection? = nil, quotaBytes: Int64? = nil) {
        self.name = name
        self.type = type
        self.path = path
        self.required = required
        self.s3 = s3
        self.retention = retention
        self.quotaBytes = quotaBytes
    }

    /// Where the repository is, for messages: the directory, or `s3://bucket/prefix`.
    public var location: String {
        switch type {
        case .posix: return path
        case .s3:
            guard let s3, let bucket = s3.bucket else { return "s3://?" }
            let prefix = S3RepositorySettings.normalizedPrefix(s3.prefix ?? "")
            return "s3://\(bucket)" + (prefix.isEmpty ? "" : "/" + prefix.dropLast())
        }
    }
}

extension RepositorySpec {
    /// Tolerant: `path` may be absent (s3), `required` defaults to true.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        type = try c.decode(Kind.self, forKey: .type)
        path = try c.decodeIfPresent(String.self, forKey: .path) ?? ""
        required = try c.decodeIfPresent(Bool.self, forKey: .required) ?? true
        s3 = try c.decodeIfPresent(S3Section.self, forKey: .s3)
        retention = try c.decodeIfPresent(RetentionSection.self, forKey: .retention)
        quotaBytes = try c.decodeIfPresent(Int64.self, forKey: .quotaBytes)
    }
}

/// The configuration file (`tidemark.json`). Every field is optional; the environment
/// overrides it (see docs/configuration.md).
public struct ConfigFile: Codable, Sendable {
    public var stanza: String?
    public var repositories: [RepositorySpec]?
    public var encryptionKey: String?
    public var encryptionKeyFile: String?
    public var compression: CompressionAlgorithm?
    public var compressionLevel: Int32?
    public var ioTimeoutSeconds: Double?
    /// How to reach the server for backups: `{"conninfo": "host=... user=..."}`; libpq's PG*
    /// variables and ~/.pgpass apply as usual.
    public var postgres: PostgresSection?
    /// Seconds `backup` and `check` wait for a WAL segment to reach the repository.
    public var archiveTimeoutSeconds: Double?
    /// Checkpoint mode for backups: "fast" (default) or "spread".
    public var checkpoint: String?
    /// WAL segments wal-fetch fetches ahead of PostgreSQL's requests (default 8; 0: off).
    public var prefetchSegments: Int?
    /// Where prefetched segments wait (default: under the system temp directory, keyed by
    /// user, stanza and data directory); see docs/wal-fetch-prefetch.md.
    public var spoolPath: String?
    /// Seconds a stanza lock's lease lasts unless renewed (default 60; docs/locking.md).
    public var lockLeaseSeconds: Double?
    /// What expire keeps (docs/retention.md); a repository's own `retention` overrides it.
    public var retention: RetentionSection?
    /// Re-read and authenticate every object of a backup before it reports success (default true).
    public var verifyAfterBackup: Bool?
    /// The service's jobs (docs/service.md).
    public var schedule: ScheduleSection?
    /// The watchdog's thresholds (docs/service.md).
    public var alerts: AlertsSection?
    /// `tidemark serve`: listen address, metrics token, state directory.
    public var serve: ServeSection?
    /// The audit log's local mirror (docs/audit.md).
    public var audit: AuditSection?
    /// Slack, email, webhook and heartbeat channels (docs/service.md).
    public var notifications: NotificationsSection?
    /// The mail server the email channel sends through.
    public var smtp: SMTPSection?
    /// The resident archiver (docs/archiver.md).
    public var archiver: ArchiverSection?
    /// The admin API and dashboard (docs/api.md).
    public var api: APISection?
    /// The file storage backed up beside the database (docs/files.md).
    public var files: FilesSection?

    public struct PostgresSection: Codable, Sendable {
        public var conninfo: String?

        package enum CodingKeys: String, CodingKey, CaseIterable { case conninfo }
    }

    package enum CodingKeys: String, CodingKey, CaseIterable {
        case stanza, repositories, encryptionKey, encryptionKeyFile, compression, compressionLevel, ioTimeoutSeconds, postgres,
             archiveTimeoutSeconds, checkpoint, prefetchSegments, spoolPath, lockLeaseSeconds, retention, verifyAfterBackup,
             schedule, alerts, serve, audit, notifications, smtp, archiver, api, files
    }

    public init() {}
}

/// Everything a command needs, resolved from file, environment and flags.
public struct Configuration: Sendable {
    public var stanza: String
    public var repositories: [RepositorySpec]
    public var encryptionKey: Secret?
    /// Where the key came from, for messages (never the key).
    public var keySource: String
    /// The key file the key was read from (nil: the key came from a variable or inline).
    public var keyFile: String?
    public var compression: CompressionAlgorithm
    public var compressionLevel: Int32?
    public var ioTimeoutSeconds: Double
    /// The file the configuration came from, if any (restore_command passes it on).
    public var configFile: String?
    /// libpq connection string for backups (may be empty: libpq's defaults and PG* apply).
    public var conninfo: String = ""
    public var archiveTimeoutSeconds: Double = 60
    /// Seconds a stanza lock's lease lasts unless renewed (`RepositoryLock`).
    public var lockLeaseSeconds: Double = 60
    /// Each repository's retention policy, by name.
    public var retention: [String: RetentionPolicy] = [:]
    public var fastCheckpoint = true
    /// `backup` verifies its own objects before it reports success (`verifyAfterBackup`).
    public var verifyAfterBackup = true
    /// Resolved settings of each s3 repository, by repository name.
    public var s3Settings: [String: S3RepositorySettings] = [:]
    /// wal-fetch's prefetch window in segments (0: no prefetching).
    public var prefetchSegments = 8
    /// The prefetch spool directory; nil: `PrefetchSpool.defaultPath` for the data directory.
    public var spoolPath: String?
    /// The system temp directory (TMPDIR, else /tmp), for the default spool path.
    public var tempDirectory = "/tmp"
    /// The sections only the service reads, as written (TidemarkServer resolves them).
    public var service = ServiceSections()
    /// File backups: the `files` section and FILE_BACKUP_DIR (docs/files.md).
    public var files = FilesSettings()

    /// The repository named `name`, or a configuration error listing the names.
    public func repository(named name: String) throws -> RepositorySpec {
        guard let spec = repositories.first(where: { $0.name == name }) else {
            throw TidemarkError(.configuration, "no repository is named '\(name)'",
                                hints: ["configured: " + repositories.map(\.name).joined(separator: ", ")])
        }
        return spec
    }

    public static let defaultConfigPath = "/etc/tidemark/tidemark.json"

    /// The key, or a configuration error that says how to provide one.
    public func requireKey() throws -> Secret {
        guard let key = encryptionKey else {
            throw TidemarkError(.configuration, "no encryption key configured",
                                hints: ["set BACKUP_ENCRYPTION_KEY_FILE to a file (mode 0600) holding the key, or BACKUP_ENCRYPTION_KEY, or encryptionKeyFile in the config file",
                                        "a good key: head -c 32 /dev/urandom | base64 > /etc/tidemark/key && chmod 600 /etc/tidemark/key"])
        }
        return key
    }
}

/// Builds a `Configuration` from a config file (optional) and an environment dictionary.
/// The CLI passes `ProcessInfo`'s environment; tests pass their own.
public enum ConfigurationLoader {
    public static func load(configPath explicitPath: String?, stanza explicitStanza: String?,
                            environment env: [String: String]) throws -> Configuration {
        // 1. The file: --config, else TIDEMARK_CONFIG, else the default path if it exists.
        var file = ConfigFile()
        var usedPath: String?
        let requested = explicitPath ?? env["TIDEMARK_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        if let path = requested {
            file = try readConfigFile(path, required: true) ?? ConfigFile()
            usedPath = path
        } else if let found = try readConfigFile(Configuration.defaultConfigPath, required: false) {
            file = found
            usedPath = Configuration.defaultConfigPath
        }

        // 2. Repositories. BACKUP_DIR sets the path of the first posix repository (or adds
        //    `local` in front); AWS_BACKUP_BUCKET the bucket of the first s3 one (or adds
        //    `offsite` at the end). Either alone works; both give two repositories.
        var repositories = file.repositories ?? []
        if let dir = env["BACKUP_DIR"], !dir.isEmpty {
            if let i = repositories.firstIndex(where: { $0.type == .posix }) {
                repositories[i].path = absolute(dir)
            } else {
                repositories.insert(RepositorySpec(name: "local", type: .posix, path: absolute(dir)), at: 0)
            }
        }
        var environmentS3: String?
        if let bucketText = env["AWS_BACKUP_BUCKET"], !bucketText.isEmpty {
            let (bucket, prefix) = S3RepositorySettings.splitBucket(bucketText)
            if let i = repositories.firstIndex(where: { $0.type == .s3 }) {
                var section = repositories[i].s3 ?? S3Section()
                section.bucket = bucket
                section.prefix = prefix
                repositories[i].s3 = section
                environmentS3 = repositories[i].name
            } else {
                repositories.append(RepositorySpec(name: "offsite", type: .s3, path: "", s3: S3Section(bucket: bucket, prefix: prefix)))
                environmentS3 = "offsite"
            }
        } else {
            environmentS3 = repositories.first { $0.type == .s3 }?.name
        }
        guard !repositories.isEmpty else {
            throw TidemarkError(.configuration, "no repository configured",
                                hints: ["set BACKUP_DIR to the repository directory (and/or AWS_BACKUP_BUCKET for S3), or list repositories in \(usedPath ?? "a config file (--config, TIDEMARK_CONFIG or \(Configuration.defaultConfigPath))")"])
        }
        var names = Set<String>()
        for r in repositories {
            guard !r.name.isEmpty, r.name.utf8.count <= 64, !r.name.hasPrefix("."), r.name.utf8.allSatisfy({
                ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 || $0 == 45 || $0 == 46
            }) else {
                throw TidemarkError(.configuration, "repository name '\(r.name)' is not valid", hints: ["use 1-64 letters, digits, '_', '-' or '.' (not starting with '.')"])
            }
            guard names.insert(r.name).inserted else {
                throw TidemarkError(.configuration, "repository name '\(r.name)' is used twice", hints: ["give each repository its own name"])
            }
            switch r.type {
            case .posix:
                guard r.path.hasPrefix("/") else {
                    throw TidemarkError(.configuration, r.path.isEmpty ? "repository '\(r.name)' (posix) has no path" : "repository '\(r.name)' path '\(r.path)' is not absolute",
                                        hints: ["archive_command runs in the data directory; give an absolute path"])
                }
                guard r.s3 == nil else {
                    throw TidemarkError(.configuration, "repository '\(r.name)' is posix but has an s3 section", hints: ["set \"type\": \"s3\" or remove the s3 section"])
                }
            case .s3:
                guard r.path.isEmpty else {
                    throw TidemarkError(.configuration, "repository '\(r.name)' is s3 but has a path", hints: ["an s3 repository takes s3.bucket and s3.prefix, not path"])
                }
            }
        }
        guard repositories.contains(where: \.required) else {
            throw TidemarkError(.configuration, "no repository is required: wal-push would succeed with the segment stored nowhere",
                                hints: ["mark at least one repository \"required\": true (the default)"])
        }

        // 3. Key: env passphrase, env key file, file passphrase, file key file.
        var key: Secret?
        var keySource = "none"
        var keyFile: String?
        if let k = env["BACKUP_ENCRYPTION_KEY"], !k.isEmpty {
            key = Secret(trimmedSecret(Array(k.utf8)))
            keySource = "BACKUP_ENCRYPTION_KEY"
        } else if let path = env["BACKUP_ENCRYPTION_KEY_FILE"], !path.isEmpty {
            key = try KeyFile.read(path, source: "BACKUP_ENCRYPTION_KEY_FILE")
            keySource = "key file \(path)"
            keyFile = absolute(path)
        } else if let k = file.encryptionKey, !k.isEmpty {
            key = Secret(trimmedSecret(Array(k.utf8)))
            keySource = "encryptionKey in \(usedPath ?? "config")"
        } else if let path = file.encryptionKeyFile, !path.isEmpty {
            key = try KeyFile.read(path, source: "encryptionKeyFile")
            keySource = "key file \(path)"
            keyFile = absolute(path)
        }

        // 4. Stanza, compression, timeouts.
        let stanza = explicitStanza ?? env["TIDEMARK_STANZA"].flatMap { $0.isEmpty ? nil : $0 } ?? file.stanza ?? "main"
        try validateStanza(stanza)
        var compression = file.compression ?? .lz4
        if let c = env["TIDEMARK_COMPRESSION"], !c.isEmpty {
            guard let parsed = CompressionAlgorithm(rawValue: c) else {
                throw TidemarkError(.configuration, "TIDEMARK_COMPRESSION '\(c)' is not a compression type",
                                    hints: ["use one of: " + CompressionAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")])
            }
            compression = parsed
        }
        let level = file.compressionLevel
        if let level, !compression.levelRange.contains(level) {
            throw TidemarkError(.configuration, "compressionLevel \(level) is out of range for \(compression)",
                                hints: ["\(compression) takes \(compression.levelRange.lowerBound)...\(compression.levelRange.upperBound)"])
        }
        var timeout = file.ioTimeoutSeconds ?? 60
        if let t = env["TIDEMARK_IO_TIMEOUT"], !t.isEmpty {
            guard let v = Double(t) else {
                throw TidemarkError(.configuration, "TIDEMARK_IO_TIMEOUT '\(t)' is not a number of seconds")
            }
            timeout = v
        }
        guard timeout > 0, timeout <= 86400 else {
            throw TidemarkError(.configuration, "I/O timeout \(timeout) s is out of range", hints: ["use 1 to 86400 seconds"])
        }
        var configuration = Configuration(stanza: stanza, repositories: repositories, encryptionKey: key, keySource: keySource,
                                          compression: compression, compressionLevel: level, ioTimeoutSeconds: timeout,
                                          configFile: usedPath.map(absolute))
        configuration.keyFile = keyFile
        for r in repositories where r.type == .s3 {
            configuration.s3Settings[r.name] = try S3RepositorySettings.resolve(
                name: r.name, section: r.s3, environment: env, environmentWins: r.name == environmentS3,
                configFile: usedPath.map(absolute), timeout: timeout)
        }
        configuration.conninfo = env["TIDEMARK_PG_CONNINFO"].flatMap { $0.isEmpty ? nil : $0 } ?? file.postgres?.conninfo ?? ""
        configuration.archiveTimeoutSeconds = file.archiveTimeoutSeconds ?? 60
        configuration.verifyAfterBackup = file.verifyAfterBackup ?? true
        configuration.lockLeaseSeconds = try lockLease(file: file, environment: env)
        configuration.files = try files(file.files, repositories: repositories, environment: env)
        // FILE_BACKUP_DIR's own repository takes the top-level policy (it has no section of its own).
        configuration.retention = try retention(file: file, repositories: repositories + (configuration.files.separateRepository.map { [$0] } ?? []),
                                                environment: env)
        configuration.service = ServiceSections(schedule: file.schedule, alerts: file.alerts, serve: file.serve, audit: file.audit,
                                                notifications: file.notifications, smtp: file.smtp,
                                                archiver: try ArchiverSection.withEnvironment(file.archiver, env), api: file.api)
        var prefetch = file.prefetchSegments ?? 8
        if let t = env["TIDEMARK_PREFETCH"], !t.isEmpty {
            guard let v = Int(t) else {
                throw TidemarkError(.configuration, "TIDEMARK_PREFETCH '\(t)' is not a number of segments")
            }
            prefetch = v
        }
        guard (0...256).contains(prefetch) else {
            throw TidemarkError(.configuration, "prefetch window \(prefetch) is out of range", hints: ["use 0 (off) to 256 segments"])
        }
        configuration.prefetchSegments = prefetch
        configuration.spoolPath = env["TIDEMARK_SPOOL"].flatMap { $0.isEmpty ? nil : absolute($0) } ?? file.spoolPath.map(absolute)
        if let tmp = env["TMPDIR"], tmp.hasPrefix("/") { configuration.tempDirectory = tmp }
        switch file.checkpoint ?? "fast" {
        case "fast": configuration.fastCheckpoint = true
        case "spread": configuration.fastCheckpoint = false
        case let other:
            throw TidemarkError(.configuration, "checkpoint '\(other)' in the config file is not fast or spread")
        }
        return configuration
    }

    package static func validateStanza(_ stanza: String) throws {
        let ok = !stanza.isEmpty && stanza.utf8.count <= 64 && stanza.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 || $0 == 45
        } && !stanza.hasPrefix("-")
        guard ok else {
            throw TidemarkError(.configuration, "stanza name '\(stanza)' is not valid",
                                hints: ["use 1-64 letters, digits, '_' or '-'"])
        }
    }

    package static func readConfigFile(_ path: String, required: Bool) throws -> ConfigFile? {
        let read: [UInt8]?
        do {
            read = try FileIO.readAll(path)
        } catch {
            throw TidemarkError(.configuration, "unable to read config file: \(error.message)")
        }
        guard let bytes = read else {
            if !required { return nil }
            throw TidemarkError(.configuration, "unable to read config file '\(path)': no such file",
                                hints: ["create it (see pg-conf/tidemark.sample.json) or point --config / TIDEMARK_CONFIG at the right file"])
        }
        try checkShape(bytes, path: path)
        do {
            let decoder = JSONDecoder()
            return try decoder.decode(ConfigFile.self, from: Data(bytes))
        } catch let DecodingError.dataCorrupted(ctx) {
            throw TidemarkError(.configuration, "config file '\(path)' is not valid JSON: \(ctx.debugDescription)")
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
            let field = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            throw TidemarkError(.configuration, "config file '\(path)': field '\(field)' has the wrong type: \(ctx.debugDescription)")
        } catch {
            throw TidemarkError(.configuration, "config file '\(path)' could not be read: \(error)")
        }
    }

    /// `FileIO.absolute`, under the name the engine has always used.
    package static func absolute(_ path: String) -> String { FileIO.absolute(path) }
}
