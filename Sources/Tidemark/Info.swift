import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCodec

/// What `tidemark info` reports; the JSON field names are an interface (docs/info.md).
public struct InfoReport: Codable, Sendable {
    public struct RepositorySection: Codable, Sendable {
        public var name: String
        /// The directory (posix) or `s3://bucket/prefix`.
        public var path: String
        public var type: String
        public var required: Bool
        public var formatVersion: Int
        public var created: String
        public var cipher: String
        public var keyID: String
        public var kdf: String
        /// Why the repository could not be opened (the fields above are then empty), or null.
        public var error: String? = nil

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(path, forKey: .path)
            try c.encode(type, forKey: .type)
            try c.encode(required, forKey: .required)
            try c.encode(formatVersion, forKey: .formatVersion)
            try c.encode(created, forKey: .created)
            try c.encode(cipher, forKey: .cipher)
            try c.encode(keyID, forKey: .keyID)
            try c.encode(kdf, forKey: .kdf)
            try c.encode(error, forKey: .error)
        }
    }

    public struct TimelineSection: Codable, Sendable {
        public var timeline: UInt32
        public var first: String
        public var last: String
        public var segments: Int
        /// Missing segments between first and last, as "FIRST-LAST" ranges (at most 20).
        public var gaps: [String]
    }

    public struct WALSection: Codable, Sendable {
        public var segments: Int
        public var timelines: [TimelineSection]
        public var historyFiles: [String]
        public var backupHistoryFiles: Int
        public var partialFiles: Int
        public var storedBytes: Int64
    }

    public struct StanzaSection: Codable, Sendable {
        public var name: String
        public var repository: String
        public var systemIdentifier: String?
        public var postgresVersion: Int?
        public var walSegmentSize: UInt64?
        public var wal: WALSection
        /// Per timeline, the instants a restore can reach (`Engine.restorableWindows`).
        public var restorable: [RestorableWindowEntry]? = nil
        /// Why the windows could not be worked out, or null.
        public var restorableError: String? = nil
        /// What the retention policy does to each backup (`tidemark expire` would delete those not kept).
        public var retention: RetentionStatus? = nil
        public var retentionError: String? = nil
    }

    public var repositories: [RepositorySection]
    public var stanzas: [StanzaSection]
    /// WAL files that optional repositories missed and still lack (configured stanza).
    public var alerts: [MissedWAL] = []
    /// Required repositories that could not be read (not in the JSON, which has each
    /// repository's `error`): the command prints the report, then fails with the first.
    public var failures: [TidemarkError] = []

    /// The first repository, under the name the JSON promises.
    public var repository: RepositorySection? { repositories.first }

    package enum CodingKeys: String, CodingKey { case repository, repositories, stanzas, alerts }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(repository, forKey: .repository)
        try c.encode(repositories, forKey: .repositories)
        try c.encode(stanzas, forKey: .stanzas)
        try c.encode(alerts, forKey: .alerts)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        repositories = try c.decode([RepositorySection].self, forKey: .repositories)
        stanzas = try c.decode([StanzaSection].self, forKey: .stanzas)
        alerts = try c.decodeIfPresent([MissedWAL].self, forKey: .alerts) ?? []
    }

    package init(repositories: [RepositorySection], stanzas: [StanzaSection], alerts: [MissedWAL] = []) {
        self.repositories = repositories
        self.stanzas = stanzas
        self.alerts = alerts
    }

}

/// `1536` → `1.5 KiB`, for text output (JSON keeps exact bytes).
public func formatBytes(_ n: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n)
    var i = 0
    while v >= 1024 && i < units.count - 1 {
        v /= 1024
        i += 1
    }
    return i == 0 ? "\(n) B" : String(Int(v * 10) / 10) + "." + String(Int(v * 10) % 10) + " " + units[i]
}

extension Engine {
    /// `tidemark info`: what every repository holds. Needs the key (the stanza identity is encrypted).
    public func info() async throws -> InfoReport {
        var repos: [InfoReport.RepositorySection] = []
        var stanzas: [InfoReport.StanzaSection] = []
        let passphrase = try configuration.requireKey()
        var opened: [(RepositorySpec, Repository)] = []
        var firstError: (any Error)?
        var failures: [TidemarkError] = []
        for spec in configuration.repositories {
            do {
                opened.append((spec, try await open(spec, passphrase: passphrase)))
            } catch {
                // Shown, not thrown, while another repository can be read: info matters most then.
                firstError = firstError ?? error
                let wrapped = TidemarkError.wrap(error, doing: "open repository '\(spec.name)'")
                if spec.required { failures.append(wrapped.inRequiredRepository(spec.name)) }
                repos.append(.init(name: spec.name, path: spec.location, type: spec.type.rawValue, required: spec.required, formatVersion: 0,
                                   created: "", cipher: "", keyID: "", kdf: "",
                                   error: wrapped.message))
            }
        }
        if opened.isEmpty, let firstError { throw firstError }
        for (spec, repo) in opened {
            let c = repo.config
            repos.append(.init(name: spec.name, path: spec.location, type: spec.type.rawValue, required: spec.required, formatVersion: c.version, created: c.created, cipher: c.cipher,
                               keyID: repo.key.idHex, kdf: c.keySlots.first { $0.name == repo.slot }?.wrappedKey.kdfDescription ?? ""))
            let top: ObjectListing
            do { top = try await repo.store.list(prefix: "") } catch { throw TidemarkError.wrap(error, doing: "list '\(spec.location)'") }
            for prefix in top.prefixes {
                let name = String(prefix.dropLast())
                let identity = try await repo.stanzaInfo(name)
                let wal = try await Self.walSection(repo.store, stanza: name, segmentSize: identity.flatMap { WALSegmentSize(rawValue: $0.walSegmentSize) } ?? .default)
                var section = InfoReport.StanzaSection(name: name, repository: spec.name, systemIdentifier: identity?.systemIdentifier,
                                                       postgresVersion: identity?.postgresVersion, walSegmentSize: identity?.walSegmentSize, wal: wal)
                do {
                    section.restorable = try await Self.restorableWindows(repo, stanza: name)
                } catch {
                    section.restorable = []
                    section.restorableError = TidemarkError.wrap(error, doing: "work out the restorable windows of stanza '\(name)'").message
                }
                (section.retention, section.retentionError) = await retentionStatus(repo, named: spec.name, stanza: name)
                stanzas.append(section)
            }
        }
        let order = configuration.repositories.map(\.name)
        repos.sort { (order.firstIndex(of: $0.name) ?? 0) < (order.firstIndex(of: $1.name) ?? 0) }
        let alerts = try await outstandingAlerts(repositories: opened)
        var report = InfoReport(repositories: repos, stanzas: stanzas, alerts: alerts)
        report.failures = failures
        return report
    }

    package static func walSection(_ store: any ObjectStore, stanza: String, segmentSize: WALSegmentSize) async throws -> InfoReport.WALSection {
        var section = InfoReport.WALSection(segments: 0, timelines: [], historyFiles: [], backupHistoryFiles: 0, partialFiles: 0, storedBytes: 0)
        var byTimeline: [TimelineID: [WALSegmentName]] = [:]
        do {
            let top = try await store.list(prefix: RepositoryLayout.walPrefix(stanza))
            for dir in top.prefixes {
                for object in try await store.list(prefix: dir).objects {
                    section.storedBytes += object.size
                    let base = FileIO.basename(object.key)
                    if base.contains(".partial") {
                        section.partialFiles += 1
                        continue
                    }
                    switch WALFileName(base) {
                    case .segment(let s): byTimeline[s.timeline, default: []].append(s)
                    case .history: section.historyFiles.append(base)
                    case .backupHistory: section.backupHistoryFiles += 1
                    case .partial: section.partialFiles += 1
                    case nil: continue
                    }
                }
            }
        } catch {
            throw TidemarkError.wrap(error, doing: "list the WAL of stanza '\(stanza)'")
        }
        for (tli, names) in byTimeline.sorted(by: { $0.key < $1.key }) {
            let sorted = names.sorted()
            let numbers = sorted.compactMap { $0.segmentNumber(size: segmentSize) }
            var gaps: [String] = []
            for (a, b) in zip(numbers, numbers.dropFirst()) where b > a + 1 && gaps.count < 20 {
                let from = WALSegmentName(timeline: tli, segment: a + 1, size: segmentSize)
                let to = WALSegmentName(timeline: tli, segment: b - 1, size: segmentSize)
                gaps.append(a + 1 == b - 1 ? from.description : "\(from)-\(to)")
            }
            section.segments += sorted.count
            section.timelines.append(.init(timeline: tli.rawValue, first: sorted.first?.description ?? "",
                                           last: sorted.last?.description ?? "", segments: sorted.count, gaps: gaps))
        }
        section.historyFiles.sort()
        return section
    }
}

extension TidemarkError {
    /// This error as the reason a required repository is unavailable (same code, so the exit
    /// status says what kind of failure it was).
    package func inRequiredRepository(_ name: String) -> TidemarkError {
        var e = self
        e.message = "required repository '\(name)' is unavailable: \(message)"
        return e
    }
}
