import TidemarkCore

/// Every object key in a repository, computed in one place (docs/format.md, "Repository layout").
///
/// ```
/// tidemark.repo                                   repository config (plain JSON + MAC)
/// <stanza>/stanza.info                            envelope: cluster identity
/// <stanza>/wal/history/<TTTTTTTT>.history         envelope: timeline history
/// <stanza>/wal/<TTTTTTTTLLLLLLLL>/<segment>       envelope: WAL segment
/// <stanza>/wal/<TTTTTTTTLLLLLLLL>/<segment>.<offset>.backup
/// <stanza>/wal/<TTTTTTTTLLLLLLLL>/<segment>.partial[-<sha16>]
/// ```
/// WAL names are visible so that listing needs no key; contents are encrypted.
public enum RepositoryLayout {
    public static let configKey = "tidemark.repo"

    public static func stanzaInfo(_ stanza: String) -> String { "\(stanza)/stanza.info" }

    public static func walPrefix(_ stanza: String) -> String { "\(stanza)/wal/" }

    public static func historyPrefix(_ stanza: String) -> String { "\(stanza)/wal/history/" }

    /// The key of an archived WAL file.
    public static func wal(_ stanza: String, _ file: WALFileName) -> String {
        switch file {
        case .history:
            return historyPrefix(stanza) + file.description
        case .segment(let s), .backupHistory(let s, _), .partial(let s):
            return walPrefix(stanza) + s.directoryName + "/" + file.description
        }
    }

    /// Where a second, different `.partial` of the same name is kept (see WALArchive).
    public static func alternatePartial(_ stanza: String, _ segment: WALSegmentName, sha256Hex: String) -> String {
        wal(stanza, .partial(segment)) + "-" + sha256Hex.prefix(16)
    }
}
