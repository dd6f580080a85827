import TidemarkCore
import TidemarkSystem
import TidemarkCodec
import TidemarkStorage

/// Every object key in a repository, computed in one place (docs/format.md, "Repository layout").
///
/// ```
/// tidemark.repo                                   repository config (plain JSON + MAC)
/// <stanza>/stanza.info                            envelope: cluster identity
/// <stanza>/wal/history/<TTTTTTTT>.history         envelope: timeline history
/// <stanza>/wal/<TTTTTTTTLLLLLLLL>/<segment>       envelope: WAL segment
/// <stanza>/wal/<TTTTTTTTLLLLLLLL>/<segment>.<offset>.backup
/// <stanza>/wal/<TTTTTTTTLLLLLLLL>/<segment>.partial[-<sha16>]
/// <stanza>/backup/<id>/pack-NNNNN                 envelope: concatenated blocks
/// <stanza>/backup/<id>/blockmap                   envelope: 16-byte keyed hash per block
/// <stanza>/backup/<id>/backup_manifest            envelope: the server's manifest
/// <stanza>/backup/<id>/catalog                    envelope: JSON catalog, written last
/// <stanza>/lock/<generation, 20 digits>          plain JSON: the stanza lock's lease
///                                                 (the highest generation; RepositoryLock)
/// <stanza>/alerts/<repository>/<WAL file>.json    plain JSON: a WAL file that optional
///                                                 repository <repository> missed
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

    public static func backupPrefix(_ stanza: String) -> String { "\(stanza)/backup/" }

    public static func backupDirectory(_ stanza: String, _ id: BackupID) -> String { "\(stanza)/backup/\(id)/" }

    /// An object of one backup: `catalog`, `blockmap`, `backup_manifest`, `pack-NNNNN`.
    public static func backupObject(_ stanza: String, _ id: BackupID, _ name: String) -> String {
        backupDirectory(stanza, id) + name
    }

    public static func lockPrefix(_ stanza: String) -> String { "\(stanza)/lock/" }

    /// One generation of the stanza lock's lease (see RepositoryLock).
    public static func lease(_ stanza: String, generation: UInt64) -> String {
        let digits = String(generation)
        return lockPrefix(stanza) + String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    /// The generation a lease key names, or nil for any other key.
    public static func leaseGeneration(_ key: String) -> UInt64? {
        let name = key.split(separator: "/").last ?? ""
        guard name.utf8.count == 20, name.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return UInt64(name)
    }

    public static func alertPrefix(_ stanza: String) -> String { "\(stanza)/alerts/" }

    /// The record that `repository` (optional) missed WAL file `file` (see docs/multiple-repositories.md).
    public static func alert(_ stanza: String, repository: String, file: String) -> String {
        alertPrefix(stanza) + repository + "/" + file + ".json"
    }

    /// Where a second, different `.partial` of the same name is kept (see WALArchive).
    public static func alternatePartial(_ stanza: String, _ segment: WALSegmentName, sha256Hex: String) -> String {
        wal(stanza, .partial(segment)) + "-" + sha256Hex.prefix(16)
    }
}

extension RepositoryLayout {
    /// Where `tidemark reindex` keeps the summary of a segment archived without WAL facts: a
    /// separate, derived object, so archived segments are never rewritten.
    public static func walIndex(_ stanza: String, _ segment: WALSegmentName) -> String {
        "\(stanza)/walindex/\(segment.directoryName)/\(segment).summary"
    }
}

extension RepositoryLayout {
    /// `<stanza>/pins/<id>` (envelope: `BackupPin` JSON): backup `id` is on hold (`tidemark pin`),
    /// expire and delete never remove it. One listing finds every pin.
    public static func pinPrefix(_ stanza: String) -> String { "\(stanza)/pins/" }

    public static func pin(_ stanza: String, _ id: BackupID) -> String { pinPrefix(stanza) + id.rawValue }

    /// `<stanza>/deleting/<id>` (envelope: `DeletionMarker` JSON): backup `id` is being deleted.
    /// Written before any of its objects goes and removed after its catalog: a marked backup is
    /// not listed, planned or restored, and the next expire or delete finishes the job.
    public static func deletingPrefix(_ stanza: String) -> String { "\(stanza)/deleting/" }

    public static func deletionMarker(_ stanza: String, _ id: BackupID) -> String { deletingPrefix(stanza) + id.rawValue }

    /// `<stanza>/catalog.index` (envelope: `CatalogIndex` JSON): a summary of every complete
    /// backup's catalog, so listing needs one read; a cache, checked against the listing of
    /// `backup/` and rebuilt from the catalogs when missing or stale.
    public static func catalogIndex(_ stanza: String) -> String { "\(stanza)/catalog.index" }
}

extension RepositoryLayout {
    /// `<stanza>/verify.ledger` (envelope, kind 9): what `tidemark verify` has proven about the
    /// stanza's objects, so a routine run reads only what is new (TidemarkVerify `VerifyLedger`).
    public static func verifyLedger(_ stanza: String) -> String { "\(stanza)/verify.ledger" }
}
