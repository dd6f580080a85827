#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCodec
import TidemarkStorage
import TidemarkRetention

/// One row of `tidemark list --json` (docs/list-json.md). Field names are an interface.
public struct BackupListEntry: Codable, Sendable {
    public var id: String
    public var type: String
    public var parent: String?
    public var label: String
    public var startTime: String
    public var stopTime: String
    public var startLSN: String
    public var stopLSN: String
    public var timeline: UInt32
    /// Database size in bytes (sum of file sizes).
    public var size: Int64
    /// Bytes this backup added to the repository.
    public var storedSize: Int64
    public var durationSeconds: Double
    public var postgresVersion: Int
    public var systemIdentifier: String
    public var repository: String
    /// Whether today's retention policy keeps it, and why (null when it could not be judged).
    public var retention: BackupRetention? = nil

    package enum CodingKeys: String, CodingKey {
        case id, type, parent, label, startTime, stopTime, startLSN, stopLSN, timeline, size, storedSize, durationSeconds
        case postgresVersion, systemIdentifier, repository, retention
    }

    /// Like the synthesized one, but `parent` is written as null for a full backup (documented).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(type, forKey: .type)
        try c.encode(parent, forKey: .parent)
        try c.encode(label, forKey: .label)
        try c.encode(startTime, forKey: .startTime)
        try c.encode(stopTime, forKey: .stopTime)
        try c.encode(startLSN, forKey: .startLSN)
        try c.encode(stopLSN, forKey: .stopLSN)
        try c.encode(timeline, forKey: .timeline)
        try c.encode(size, forKey: .size)
        try c.encode(storedSize, forKey: .storedSize)
        try c.encode(durationSeconds, forKey: .durationSeconds)
        try c.encode(postgresVersion, forKey: .postgresVersion)
        try c.encode(systemIdentifier, forKey: .systemIdentifier)
        try c.encode(repository, forKey: .repository)
        try c.encode(retention, forKey: .retention)
    }

    package init(_ c: BackupCatalog, repository: String) {
        self.init(CatalogSummary(c), repository: repository)
    }

    package init(_ c: CatalogSummary, repository: String) {
        id = c.id.rawValue
        type = c.type.rawValue
        parent = c.parent?.rawValue
        label = c.label
        startTime = c.startTime
        stopTime = c.stopTime
        startLSN = c.startLSN.description
        stopLSN = c.stopLSN.description
        timeline = c.timeline
        size = c.databaseSize
        storedSize = c.storedSize
        durationSeconds = c.durationSeconds
        postgresVersion = c.postgresVersion
        systemIdentifier = c.systemIdentifier
        self.repository = repository
    }
}

/// `retention` of a `list --json` row.
public struct BackupRetention: Codable, Sendable, Equatable {
    public var keep: Bool
    public var reasons: [String]
}

public struct BackupList: Codable, Sendable {
    /// One configured repository, as `list` saw it.
    public struct RepositoryEntry: Codable, Sendable {
        public var name: String
        public var type: String
        public var location: String
        public var required: Bool
        /// Complete backups of the stanza in it (0 when it could not be read).
        public var backups: Int
        /// Why it could not be read, or null.
        public var error: String?
        /// Per timeline, the instants recovery can reach (from the objects it holds).
        public var restorable: [ExpireWindow]? = nil
        /// Why the next expire would delete nothing, or null.
        public var retentionHold: String? = nil

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(type, forKey: .type)
            try c.encode(location, forKey: .location)
            try c.encode(required, forKey: .required)
            try c.encode(backups, forKey: .backups)
            try c.encode(error, forKey: .error)
            try c.encode(restorable, forKey: .restorable)
            try c.encode(retentionHold, forKey: .retentionHold)
        }
    }

    /// Every repository's complete backups, oldest first (same id: in configuration order).
    public var backups: [BackupListEntry]
    public var repositories: [RepositoryEntry]
    /// Required repositories that could not be read (not in the JSON): printed, then failed with.
    public var failures: [TidemarkError] = []

    package enum CodingKeys: String, CodingKey { case backups, repositories }

    public init(backups: [BackupListEntry], repositories: [RepositoryEntry] = []) {
        self.backups = backups
        self.repositories = repositories
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        backups = try c.decode([BackupListEntry].self, forKey: .backups)
        repositories = try c.decodeIfPresent([RepositoryEntry].self, forKey: .repositories) ?? []
    }

}

extension Engine {
    /// `tidemark list`: the complete backups of the stanza in every repository, oldest first,
    /// read through each stanza's catalog index (`BackupStore.summaries()`).
    /// A repository that cannot be read is reported in `repositories` (with its error) as long
    /// as another one can; when none can, its error is thrown.
    public func list() async throws -> BackupList {
        let passphrase = try configuration.requireKey()
        var rows: [(Int, BackupListEntry)] = []
        var repositories: [BackupList.RepositoryEntry] = []
        var firstError: (any Error)?
        var failures: [TidemarkError] = []
        for (index, spec) in configuration.repositories.enumerated() {
            var entry = BackupList.RepositoryEntry(name: spec.name, type: spec.type.rawValue, location: spec.location,
                                                   required: spec.required, backups: 0, error: nil)
            do {
                let repo = try await open(spec, passphrase: passphrase)
                let summaries = try await BackupStore(repository: repo, stanza: configuration.stanza).summaries()
                let (status, _) = await retentionStatus(repo, named: spec.name, stanza: configuration.stanza, summaries: summaries)
                let decisions = Dictionary((status?.backups ?? []).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
                rows += summaries.map {
                    var row = BackupListEntry($0, repository: spec.name)
                    row.retention = decisions[$0.id.rawValue].map { BackupRetention(keep: $0.keep, reasons: $0.reasons) }
                    return (index, row)
                }
                entry.restorable = status?.restorable
                entry.retentionHold = status?.hold
                entry.backups = summaries.count
            } catch {
                firstError = firstError ?? error
                let wrapped = TidemarkError.wrap(error, doing: "list the backups in repository '\(spec.name)'")
                if spec.required { failures.append(wrapped.inRequiredRepository(spec.name)) }
                entry.error = wrapped.message
            }
            repositories.append(entry)
        }
        if let firstError, repositories.allSatisfy({ $0.error != nil }) { throw firstError }
        rows.sort { ($0.1.id, $0.0) < ($1.1.id, $1.0) }
        var list = BackupList(backups: rows.map(\.1), repositories: repositories)
        list.failures = failures
        return list
    }
}
