import TidemarkCore

/// `archiver`: the resident archiver (docs/archiver.md), as written. Every field is optional;
/// the archiver module resolves the defaults.
public struct ArchiverSection: Codable, Sendable, Hashable {
    /// Start the archiver inside `tidemark serve` (default false).
    public var enabled: Bool?
    /// A `wal-push` that finds no archiver starts one, detached (default true).
    public var autostart: Bool?
    /// Segments pushed at once (default: the number of cores, at least 2).
    public var workers: Int?
    /// How long `wal-push` waits for the archiver's first answer before it pushes the segment
    /// itself (default 2000).
    public var answerMilliseconds: Int?
    /// The archiver exits after this many minutes without work (default 10; 0: never).
    public var idleMinutes: Double?
    /// The Unix socket `wal-push` asks (default: under the spool directory, in a 0700 directory).
    public var socketPath: String?
    /// Seconds between two rescans of pg_wal/archive_status besides inotify (default 10).
    public var rescanSeconds: Double?

    package enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled, autostart, workers, answerMilliseconds, idleMinutes, socketPath, rescanSeconds
    }

    public init() {}
}

extension ArchiverSection {
    /// `section` with `TIDEMARK_ARCHIVER_AUTOSTART` (1/true/on or 0/false/off) over its
    /// `autostart`: the way to turn autostart off when the configuration is the environment only.
    static func withEnvironment(_ section: ArchiverSection?, _ env: [String: String]) throws -> ArchiverSection? {
        guard let raw = env["TIDEMARK_ARCHIVER_AUTOSTART"], !raw.isEmpty else { return section }
        let value: Bool
        switch raw.lowercased() {
        case "1", "true", "on", "yes": value = true
        case "0", "false", "off", "no": value = false
        default:
            throw TidemarkError(.configuration, "TIDEMARK_ARCHIVER_AUTOSTART '\(raw)' is not on or off",
                                hints: ["use 1 (a wal-push that finds no archiver starts one) or 0 (never)"])
        }
        var s = section ?? ArchiverSection()
        s.autostart = value
        return s
    }
}

/// `api`: the admin API and dashboard of `tidemark serve` (docs/api.md), as written.
public struct APISection: Codable, Sendable, Hashable {
    /// File holding CRON_SECRET, the token limited to /api/cron/backup (the environment's
    /// CRON_SECRET wins).
    public var cronSecretFile: String?
    /// Largest request body accepted, in bytes (default 65536).
    public var maxBodyBytes: Int?
    /// TLS for `serve --listen` (required for a non-loopback address).
    public var tls: TLSSection?

    public struct TLSSection: Codable, Sendable, Hashable {
        public var certFile: String?
        public var keyFile: String?

        package enum CodingKeys: String, CodingKey, CaseIterable { case certFile, keyFile }

        public init() {}
    }

    package enum CodingKeys: String, CodingKey, CaseIterable { case cronSecretFile, maxBodyBytes, tls }

    public init() {}
}
