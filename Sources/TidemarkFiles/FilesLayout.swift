import TidemarkCore

/// Every key of file-storage backups, below a stanza (docs/files.md, docs/format.md).
///
/// ```
/// <stanza>/files/config                 envelope (kind 14): the stanza's files secret
///                                       (chunker gear seed, chunk-id key), the same in
///                                       every repository of the stanza
/// <stanza>/files/packs/<hh>/<pack id>   envelope (kind 11): concatenated chunks
/// <stanza>/files/index/<index id>       envelope (kind 12): one page of chunk id → pack,
///                                       offset, length
/// <stanza>/files/snapshots/<snapshot id> envelope (kind 13): a snapshot (root tree, parent,
///                                       the database backup and WAL positions)
/// ```
/// Ids are lowercase hex. Names reveal nothing about content: chunk ids are keyed hashes and
/// pack, index and snapshot ids are random or keyed.
public enum FilesLayout {
    public static func prefix(_ stanza: String) -> String { "\(stanza)/files/" }
    public static func config(_ stanza: String) -> String { "\(stanza)/files/config" }
    public static func packPrefix(_ stanza: String) -> String { "\(stanza)/files/packs/" }
    /// Packs fan out by the first two hex digits of their id, so no directory grows past a few
    /// thousand entries.
    public static func pack(_ stanza: String, _ id: String) -> String {
        "\(stanza)/files/packs/\(id.prefix(2))/\(id)"
    }
    public static func indexPrefix(_ stanza: String) -> String { "\(stanza)/files/index/" }
    public static func index(_ stanza: String, _ id: String) -> String { "\(stanza)/files/index/\(id)" }
    public static func snapshotPrefix(_ stanza: String) -> String { "\(stanza)/files/snapshots/" }
    public static func snapshot(_ stanza: String, _ id: String) -> String { "\(stanza)/files/snapshots/\(id)" }
}
