/// One problem `verify` found: what kind, which object (a key of the repository, or a backup
/// id or WAL range for problems that are not one object), what is wrong and what to do.
public struct VerifyProblem: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable, Hashable {
        /// The object does not authenticate, decompress or decode (bit rot, truncation, tampering).
        case damaged
        /// Authenticates, but is not what its name says (another file, backup or kind moved here).
        case misplaced
        /// A WAL segment of another cluster, timeline or position.
        case foreign
        /// Something a backup or the archive needs is not there.
        case missing
        /// The storage refused to read it.
        case unreadable
        /// The WAL has a gap (see `gaps`).
        case gap
        /// A timeline after 1 has no `.history` file.
        case missingHistory
        /// A backup can no longer be restored (its parent, a pack or its WAL is gone or bad).
        case backup
    }

    public var kind: Kind
    public var object: String
    public var message: String
    public var hint: String

    public init(_ kind: Kind, object: String, _ message: String, hint: String) {
        self.kind = kind
        self.object = object
        self.message = message
        self.hint = hint
    }
}

/// A run of missing WAL segments on one timeline (docs/verify-json.md).
public struct VerifyGap: Codable, Sendable, Hashable {
    public var timeline: UInt32
    public var from: String
    public var to: String
    public var segments: Int
    /// Backups that can no longer reach consistency.
    public var breaks: [String]
    /// Instants no longer restorable: `[from, to]`, PostgreSQL timestamps; `null` at an end
    /// that is not known (`to` null: nothing after the gap is restorable).
    public var window: [String?]
}

/// One span of instants recovery can reach along a timeline.
public struct VerifyWindow: Codable, Sendable, Hashable {
    public var timeline: UInt32
    public var from: String
    public var to: String
    /// The oldest backup that reaches `from`.
    public var backup: String
}

/// What verify did and found in one repository.
public struct VerifyRepositoryReport: Codable, Sendable {
    public var name: String
    public var location: String
    public var stanza: String
    public var required: Bool
    /// `ok`, `problems`, or `unreadable` (the repository could not be opened or listed).
    public var status: String
    public var scope: String
    public var objectsListed: Int
    /// Objects read in full this run, by reason.
    public var objectsRead: Int
    public var newObjects: Int
    public var changedObjects: Int
    public var sampledObjects: Int
    /// Objects the ledger already proved and this run did not read again.
    public var knownObjects: Int
    public var bytesRead: Int64
    public var backupsChecked: Int
    public var segmentsChecked: Int
    public var ledger: String
    public var problems: [VerifyProblem]
    public var gaps: [VerifyGap]
    public var missingHistories: [UInt32]
    public var windows: [VerifyWindow]
    /// Objects copied from another repository by `--repair`.
    public var repaired: [String]
    public var durationSeconds: Double

    public init(name: String, location: String, stanza: String, required: Bool, scope: String) {
        self.name = name
        self.location = location
        self.stanza = stanza
        self.required = required
        self.scope = scope
        status = "ok"
        objectsListed = 0
        objectsRead = 0
        newObjects = 0
        changedObjects = 0
        sampledObjects = 0
        knownObjects = 0
        bytesRead = 0
        backupsChecked = 0
        segmentsChecked = 0
        ledger = "missing"
        problems = []
        gaps = []
        missingHistories = []
        windows = []
        repaired = []
        durationSeconds = 0
    }
}

/// `tidemark verify --json` (docs/verify-json.md).
public struct VerifyReport: Codable, Sendable {
    public var status: String
    public var problems: Int
    public var repositories: [VerifyRepositoryReport]

    public init(repositories: [VerifyRepositoryReport]) {
        self.repositories = repositories
        problems = repositories.reduce(0) { $0 + $1.problems.count }
        status = repositories.contains { $0.status != "ok" } ? "problems" : "ok"
    }
}
