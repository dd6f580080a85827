import TidemarkCore
import TidemarkRepository
import TidemarkStorage
import TidemarkSystem

/// `backup`'s own verification (`verifyAfterBackup`, on by default): before the catalog is
/// written, every object the backup stored in a repository is read back in full and
/// authenticated; a bad one fails the backup, which then never becomes visible. What it proved
/// goes into the stanza's verify ledger, so the next `verify` does not read it again.
public enum BackupVerification {
    public struct Outcome: Sendable {
        public var objects: Int
        public var bytes: Int64
        public var seconds: Double
    }

    public static func verifyStoredObjects(_ repository: Repository, stanza: String, id: BackupID, now: Int64,
                                           parallel: Int = 8) async throws -> Outcome {
        let started = monotonicSeconds()
        let store = repository.store
        let prefix = RepositoryLayout.backupDirectory(stanza, id)
        let listing: ObjectListing
        do {
            listing = try await store.list(prefix: prefix)
        } catch {
            throw TidemarkError.wrap(error, doing: "list backup \(id) in '\(store.location)' to verify it")
        }
        let check = ObjectCheck(repository: repository, stanza: stanza, identity: nil)
        let work = listing.objects.compactMap { info in StanzaObject.classify(info.key, stanza: stanza).map { (info, $0) } }
        // `check` reports every failure as a result; it never throws.
        let results = (try? await boundedMap(work, width: parallel) { info, object in (info, await check.check(info.key, as: object)) }) ?? []
        var outcome = Outcome(objects: 0, bytes: 0, seconds: 0)
        var entries: [String: VerifyLedger.Entry] = [:]
        for (info, result) in results {
            switch result {
            case .good(let o):
                outcome.objects += 1
                outcome.bytes += o.bytesRead
                entries[info.key] = VerifyLedger.Entry(size: info.size, salt: o.salt, verifiedAt: now)
            case .vanished:
                throw TidemarkError(.verification, "backup \(id) failed its verification: '\(store.location)/\(info.key)' vanished after it was written",
                                    hints: ["something else deletes from '\(store.location)': find it; the backup was not committed"])
            case .bad(let p):
                throw TidemarkError(.verification, "backup \(id) failed its verification: \(p.message)",
                                    hints: ["the backup was not committed (a later backup removes what it wrote); check the storage of '\(store.location)', then back up again"])
            }
        }
        // Best effort: a ledger that cannot be written only means the next verify reads these.
        switch try? await VerifyLedger.load(repository, stanza: stanza) {
        case .ledger(var ledger)?:
            ledger.entries.merge(entries) { _, new in new }
            try? await ledger.store(in: repository)
        case .missing?:
            try? await VerifyLedger(stanza: stanza, entries: entries).store(in: repository)
        default:
            // A damaged ledger is the next verify's to report and rebuild.
            break
        }
        outcome.seconds = monotonicSeconds() - started
        return outcome
    }
}
