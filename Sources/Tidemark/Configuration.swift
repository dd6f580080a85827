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

/// A secret that never prints itself.
public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}

/// One place archives and backups are written to.
public struct RepositorySpec: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable { case posix }
    public var name: String
    public var type: Kind
    public var path: String
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

    public struct PostgresSection: Codable, Sendable {
        public var conninfo: String?
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
    public var compression: CompressionAlgorithm
    public var compressionLevel: Int32?
    public var ioTimeoutSeconds: Double
    /// The file the configuration came from, if any (restore_command passes it on).
    public var configFile: String?
    /// libpq connection string for backups (may be empty: libpq's defaults and PG* apply).
    public var conninfo: String = ""
    public var archiveTimeoutSeconds: Double = 60
    public var fastCheckpoint = true

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

        // 2. Repositories: BACKUP_DIR replaces the first posix repository (or adds one).
        var repositories = file.repositories ?? []
        if let dir = env["BACKUP_DIR"], !dir.isEmpty {
            let spec = RepositorySpec(name: repositories.first?.name ?? "local", type: .posix, path: absolute(dir))
            if repositories.isEmpty { repositories = [spec] } else { repositories[0] = spec }
        }
        guard !repositories.isEmpty else {
            throw TidemarkError(.configuration, "no repository configured",
                                hints: ["set BACKUP_DIR to the repository directory, or list repositories in \(usedPath ?? "a config file (--config, TIDEMARK_CONFIG or \(Configuration.defaultConfigPath))")"])
        }
        var names = Set<String>()
        for r in repositories {
            guard r.path.hasPrefix("/") else {
                throw TidemarkError(.configuration, "repository '\(r.name)' path '\(r.path)' is not absolute",
                                    hints: ["archive_command runs in the data directory; give an absolute path"])
            }
            guard names.insert(r.name).inserted else {
                throw TidemarkError(.configuration, "repository name '\(r.name)' is used twice", hints: ["give each repository its own name"])
            }
        }

        // 3. Key: env passphrase, env key file, file passphrase, file key file.
        var key: Secret?
        var keySource = "none"
        if let k = env["BACKUP_ENCRYPTION_KEY"], !k.isEmpty {
            key = Secret(trimmedSecret(Array(k.utf8)))
            keySource = "BACKUP_ENCRYPTION_KEY"
        } else if let path = env["BACKUP_ENCRYPTION_KEY_FILE"], !path.isEmpty {
            key = try readKeyFile(path, source: "BACKUP_ENCRYPTION_KEY_FILE")
            keySource = "key file \(path)"
        } else if let k = file.encryptionKey, !k.isEmpty {
            key = Secret(trimmedSecret(Array(k.utf8)))
            keySource = "encryptionKey in \(usedPath ?? "config")"
        } else if let path = file.encryptionKeyFile, !path.isEmpty {
            key = try readKeyFile(path, source: "encryptionKeyFile")
            keySource = "key file \(path)"
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
        configuration.conninfo = env["TIDEMARK_PG_CONNINFO"].flatMap { $0.isEmpty ? nil : $0 } ?? file.postgres?.conninfo ?? ""
        configuration.archiveTimeoutSeconds = file.archiveTimeoutSeconds ?? 60
        switch file.checkpoint ?? "fast" {
        case "fast": configuration.fastCheckpoint = true
        case "spread": configuration.fastCheckpoint = false
        case let other:
            throw TidemarkError(.configuration, "checkpoint '\(other)' in the config file is not fast or spread")
        }
        return configuration
    }

    static func validateStanza(_ stanza: String) throws {
        let ok = !stanza.isEmpty && stanza.utf8.count <= 64 && stanza.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 || $0 == 45
        } && !stanza.hasPrefix("-")
        guard ok else {
            throw TidemarkError(.configuration, "stanza name '\(stanza)' is not valid",
                                hints: ["use 1-64 letters, digits, '_' or '-'"])
        }
    }

    static func readConfigFile(_ path: String, required: Bool) throws -> ConfigFile? {
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

    static func readKeyFile(_ path: String, source: String) throws -> Secret {
        var st = stat()
        if stat(path, &st) == 0, st.st_mode & 0o004 != 0 {
            throw TidemarkError(.configuration, "key file '\(path)' (\(source)) is readable by every user",
                                hints: ["chmod 600 '\(path)' (owned by the user that runs Tidemark)"])
        }
        let read: [UInt8]?
        do {
            read = try FileIO.readAll(path)
        } catch {
            throw TidemarkError(.configuration, "unable to read key file (\(source)): \(error.message)",
                                hints: error.code == .permissionDenied ? ["the file must be readable by the user running Tidemark (for archive_command: the PostgreSQL server user)"] : [])
        }
        guard let bytes = read else {
            throw TidemarkError(.configuration, "unable to read key file '\(path)' (\(source)): no such file")
        }
        let key = trimmedSecret(bytes)
        guard !key.isEmpty else {
            throw TidemarkError(.configuration, "key file '\(path)' (\(source)) is empty", hints: ["put the repository key in it"])
        }
        return Secret(key)
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil else { return path }
        let cwd = String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return cwd + "/" + path
    }
}
