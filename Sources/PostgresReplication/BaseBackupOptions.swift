import TidemarkSystem
/// What to ask of `BASE_BACKUP`, plus the client-side buffer bound.
public struct BaseBackupOptions: Sendable, Equatable {
    public enum Checkpoint: String, Sendable {
        /// Finish the checkpoint as fast as possible (I/O burst).
        case fast
        /// Spread the checkpoint per `checkpoint_completion_target` (the server's default).
        case spread
    }

    public enum Manifest: String, Sendable {
        case no, yes
        /// Hex-encode every path (`Encoded-Path`).
        case forceEncode = "force-encode"
    }

    public enum ManifestChecksums: String, Sendable {
        case none = "NONE", crc32c = "CRC32C", sha224 = "SHA224", sha256 = "SHA256", sha384 = "SHA384", sha512 = "SHA512"
    }

    /// Goes into `backup_label` (`LABEL:`); at most 1024 bytes, no NUL, CR or LF.
    public var label: String
    /// Ask the server for size estimates (`PROGRESS`): fills `TablespaceInfo.estimatedSizeKiB`
    /// at the cost of an extra pass over the data directory.
    public var progress: Bool
    public var checkpoint: Checkpoint
    /// Wait until the WAL the backup needs has been archived (`WAIT`, server default true).
    public var waitForWALArchive: Bool
    public var manifest: Manifest
    public var manifestChecksums: ManifestChecksums
    /// Send a `tablespace_map` file instead of symlinks under `pg_tblspc` (`TABLESPACE_MAP`).
    public var tablespaceMap: Bool
    /// Verify data page checksums while reading (`VERIFY_CHECKSUMS`, server default true).
    public var verifyChecksums: Bool
    /// Server-side rate limit in kB/s (`MAX_RATE`, 32 to 1048576); nil for none.
    public var maxRateKBPerSecond: Int?
    /// How many bytes of events may wait for the consumer before the producer stops reading
    /// from the server (backpressure). One event larger than this (the manifest) still passes.
    public var maxBufferedBytes: Int

    public init(
        label: String = "tidemark", progress: Bool = false, checkpoint: Checkpoint = .fast,
        waitForWALArchive: Bool = true, manifest: Manifest = .yes, manifestChecksums: ManifestChecksums = .sha256,
        tablespaceMap: Bool = false, verifyChecksums: Bool = true, maxRateKBPerSecond: Int? = nil,
        maxBufferedBytes: Int = 16 << 20
    ) {
        self.label = label
        self.progress = progress
        self.checkpoint = checkpoint
        self.waitForWALArchive = waitForWALArchive
        self.manifest = manifest
        self.manifestChecksums = manifestChecksums
        self.tablespaceMap = tablespaceMap
        self.verifyChecksums = verifyChecksums
        self.maxRateKBPerSecond = maxRateKBPerSecond
        self.maxBufferedBytes = maxBufferedBytes
    }

    /// The `BASE_BACKUP` command for a server of `serverVersion` (`PQserverVersion` form).
    ///
    /// - 15 and later: `BASE_BACKUP ( LABEL '…', PROGRESS, CHECKPOINT 'fast', WAIT false, … )`,
    ///   the only syntax 15 accepts.
    /// - 12 to 14: the legacy `BASE_BACKUP LABEL '…' PROGRESS FAST NOWAIT MAX_RATE n TABLESPACE_MAP
    ///   NOVERIFY_CHECKSUMS MANIFEST '…' MANIFEST_CHECKSUMS '…'` (manifests from 13). Not run in CI,
    ///   which has only 15; built from the PostgreSQL 12–14 protocol documentation.
    ///
    /// The label is quoted for the replication grammar (single quotes doubled; backslashes are
    /// literal there). Throws `invalidArgument` for a label with NUL, CR or LF (it would break
    /// `backup_label`) or longer than 1024 bytes, a `MAX_RATE` outside 32–1048576, a manifest
    /// requested from a server before 13, or a server before 12.
    public func command(serverVersion: Int) throws -> String {
        guard serverVersion >= 120000 else {
            throw ReplicationError(
                .invalidArgument, "unable to build BASE_BACKUP: PostgreSQL \(serverVersion / 10000) is not supported (12 or later)")
        }
        guard !label.unicodeScalars.contains(where: { $0 == "\0" || $0 == "\n" || $0 == "\r" }) else {
            throw ReplicationError(.invalidArgument, "unable to build BASE_BACKUP: the label contains NUL, CR or LF")
        }
        guard label.utf8.count <= 1024 else {
            throw ReplicationError(.invalidArgument, "unable to build BASE_BACKUP: the label is longer than 1024 bytes")
        }
        if let rate = maxRateKBPerSecond, !(32...1_048_576).contains(rate) {
            throw ReplicationError(.invalidArgument, "unable to build BASE_BACKUP: MAX_RATE \(rate) is outside 32–1048576 kB/s")
        }
        if manifest != .no, serverVersion < 130000 {
            throw ReplicationError(.invalidArgument, "unable to build BASE_BACKUP: backup manifests need PostgreSQL 13 or later")
        }
        let quotedLabel = "'" + label.replacing("'", with: "''") + "'"
        if serverVersion >= 150000 {
            var parts = ["LABEL " + quotedLabel]
            if progress { parts.append("PROGRESS") }
            parts.append("CHECKPOINT '\(checkpoint.rawValue)'")
            parts.append("WAIT \(waitForWALArchive)")
            parts.append("MANIFEST '\(manifest.rawValue)'")
            if manifest != .no { parts.append("MANIFEST_CHECKSUMS '\(manifestChecksums.rawValue)'") }
            if tablespaceMap { parts.append("TABLESPACE_MAP") }
            parts.append("VERIFY_CHECKSUMS \(verifyChecksums)")
            if let rate = maxRateKBPerSecond { parts.append("MAX_RATE \(rate)") }
            return "BASE_BACKUP ( " + parts.joined(separator: ", ") + " )"
        }
        var parts = ["BASE_BACKUP", "LABEL " + quotedLabel]
        if progress { parts.append("PROGRESS") }
        if checkpoint == .fast { parts.append("FAST") }
        if !waitForWALArchive { parts.append("NOWAIT") }
        if let rate = maxRateKBPerSecond { parts.append("MAX_RATE \(rate)") }
        if tablespaceMap { parts.append("TABLESPACE_MAP") }
        if !verifyChecksums { parts.append("NOVERIFY_CHECKSUMS") }
        if manifest != .no {
            parts.append("MANIFEST '\(manifest.rawValue)'")
            parts.append("MANIFEST_CHECKSUMS '\(manifestChecksums.rawValue)'")
        }
        return parts.joined(separator: " ")
    }
}

