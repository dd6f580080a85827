#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkArchive
import TidemarkCodec
import TidemarkCore
import TidemarkPolicy
import TidemarkRepository
import TidemarkStorage
import TidemarkSystem

/// What one verify run covers.
public enum VerifyScope: Sendable, Hashable {
    /// Every object of the stanza, every backup, the WAL from the oldest backup on.
    case all
    /// WAL only: segments, history files, their continuity and the windows.
    case wal
    /// One backup: its objects, the packs it uses in its parents, its parents' catalogs, its WAL.
    case backup(BackupID)
    /// Backups that ended at or after the instant, and the WAL from the oldest of them on.
    case since(PostgresTimestamp)

    public var name: String {
        switch self {
        case .all: return "all"
        case .wal: return "wal"
        case .backup(let id): return "backup \(id)"
        case .since(let t): return "since \(t.postgresText)"
        }
    }
}

public struct VerifyOptions: Sendable {
    public var scope: VerifyScope
    public var full: Bool
    public var samplePercent: Double
    /// Objects read at once.
    public var parallel: Int

    public init(scope: VerifyScope = .all, full: Bool = false, samplePercent: Double = 2, parallel: Int = 8) {
        self.scope = scope
        self.full = full
        self.samplePercent = samplePercent
        self.parallel = parallel
    }
}

/// One verify run over one stanza of one repository (docs/verify.md): list, choose with the
/// ledger, read the chosen objects in full in parallel, check every backup's catalog against
/// what is stored, the WAL's continuity and the windows, and record what was proven.
public struct VerifyRun: Sendable {
    public let repository: Repository
    public let stanza: String
    public let options: VerifyOptions
    /// Seconds since the epoch, for the ledger.
    public let now: Int64

    public init(repository: Repository, stanza: String, options: VerifyOptions, now: Int64) {
        self.repository = repository
        self.stanza = stanza
        self.options = options
        self.now = now
    }

    /// What the stored objects are, read once per run.
    package struct Scan: Sendable {
        package var listed: [String: (info: ObjectInfo, object: StanzaObject)] = [:]
        package var results: [String: ObjectCheck.Result] = [:]
        package var ledger: VerifyLedger
        package var identity: StanzaInfo?
        package var backups: [CatalogSummary] = []
        /// The keys the run's scope covers.
        package var inScope: Set<String> = []
    }

    public func run(into report: inout VerifyRepositoryReport) async throws {
        let started = monotonicSeconds()
        defer { report.durationSeconds = monotonicSeconds() - started }
        var scan = try await scanObjects(into: &report)
        checkBackups(&scan, backups: scan.backups, into: &report)
        await checkContinuity(scan, into: &report)
        scan.ledger.run += 1
        do {
            try await scan.ledger.store(in: repository)
        } catch {
            report.ledger += "; not written: \(error)"
        }
        if !report.problems.isEmpty { report.status = "problems" }
    }

    /// Lists the stanza, reads every header in scope, loads the ledger and reads in full what
    /// it does not prove.
    package func scanObjects(into report: inout VerifyRepositoryReport) async throws -> Scan {
        let store = repository.store
        var identity: StanzaInfo?
        do {
            identity = try await repository.stanzaInfo(stanza)
        } catch {
            report.problems.append(VerifyProblem(.damaged, object: RepositoryLayout.stanzaInfo(stanza), "\(error)",
                                                 hint: ObjectCheck.damageHint(.stanzaInfo)))
        }
        let listing: [ObjectInfo]
        do {
            listing = try await StanzaListing.list(store, stanza: stanza)
        } catch {
            throw TidemarkError.wrap(error, doing: "list stanza '\(stanza)' in '\(store.location)'")
        }
        var ledger: VerifyLedger
        switch try await VerifyLedger.load(repository, stanza: stanza) {
        case .missing:
            ledger = VerifyLedger(stanza: stanza)
            report.ledger = "missing: every object is read"
        case .damaged(let why):
            ledger = VerifyLedger(stanza: stanza)
            report.ledger = "rebuilt: the ledger did not authenticate or decode (\(why)); every object is read"
        case .ledger(let l):
            ledger = l
            report.ledger = options.full ? "rebuilt (--full)" : "used (run \(l.run + 1))"
        }
        if options.full { ledger.entries = [:] }
        var scan = Scan(ledger: ledger, identity: identity)
        for info in listing {
            guard let object = StanzaObject.classify(info.key, stanza: stanza) else { continue }
            scan.listed[info.key] = (info, object)
        }
        // What the ledger holds of objects that are gone is forgotten.
        scan.ledger.entries = scan.ledger.entries.filter { scan.listed[$0.key] != nil }
        report.objectsListed = scan.listed.count

        scan.backups = await completeBackups(scan)
        let inScope = scopeKeys(scan, backups: scan.backups)
        scan.inScope = Set(inScope)
        let salts = try await readSalts(inScope)
        let candidates = inScope.map { VerifySelection.Candidate(key: $0, size: scan.listed[$0]?.info.size ?? 0, salt: salts[$0] ?? nil) }
        let chosen = VerifySelection.choose(candidates, known: scan.ledger.known, samplePercent: options.samplePercent,
                                            run: scan.ledger.run, full: options.full)
        for c in chosen {
            switch c.reason {
            case .new, .full: report.newObjects += 1
            case .changed: report.changedObjects += 1
            case .sample: report.sampledObjects += 1
            }
        }
        report.knownObjects = inScope.count - chosen.count
        let check = ObjectCheck(repository: repository, stanza: stanza, identity: identity)
        let sampled = Set(chosen.filter { $0.reason == .sample }.map(\.key))
        let results = await readAll(chosen.map(\.key), sampled: sampled, objects: scan.listed.mapValues(\.object), check: check)
        for (key, result) in results {
            scan.results[key] = result
            switch result {
            case .good(let outcome):
                report.objectsRead += 1
                report.bytesRead += outcome.bytesRead
                let size = scan.listed[key]?.info.size ?? 0
                if sampled.contains(key), var entry = scan.ledger.entries[key] {
                    // Authenticated again, not decoded: what was learnt from its content stands.
                    entry.verifiedAt = now
                    scan.ledger.entries[key] = entry
                    continue
                }
                let refs = outcome.catalog.map { Self.refs(of: $0, stanza: stanza) } ?? []
                scan.ledger.entries[key] = VerifyLedger.Entry(size: size, salt: outcome.salt, verifiedAt: now,
                                                              lastCompletion: outcome.lastCompletion, refs: refs)
            case .vanished:
                scan.listed[key] = nil
                scan.ledger.entries[key] = nil
            case .bad(let problem):
                report.objectsRead += 1
                report.problems.append(problem)
                scan.ledger.entries[key] = nil
            }
        }
        return scan
    }

    /// `key=size` of every pack a catalog references (its own and its parents').
    package static func refs(of catalog: BackupCatalog, stanza: String) -> [String] {
        catalog.packs.map { "\(RepositoryLayout.backupObject(stanza, $0.backup, $0.name))=\($0.storedSize)" }
    }

    /// The salt of every object's envelope header (nil for a header that does not parse), in
    /// batches of 256, each one round (one I/O thread on a file system).
    private func readSalts(_ keys: [String]) async throws -> [String: String?] {
        let store = repository.store
        let batches = stride(from: 0, to: keys.count, by: 256).map { Array(keys[$0..<min($0 + 256, keys.count)]) }
        let rounds = try await boundedMap(batches, width: 4) { batch in
            let heads = try await store.get(batch, range: 0..<Int64(EnvelopeHeader.size))
            return zip(batch, heads).map { key, head in
                (key, head.flatMap { try? EnvelopeHeader(parsing: $0) }.map { hexString($0.salt) })
            }
        }
        var out: [String: String?] = [:]
        for (k, salt) in rounds.joined() { out[k] = salt }
        return out
    }

    /// Reads `keys` in full, `options.parallel` at a time; those in `sampled` are only
    /// authenticated (`ObjectCheck.check(_:as:authenticateOnly:)`).
    private func readAll(_ keys: [String], sampled: Set<String>, objects: [String: StanzaObject],
                         check: ObjectCheck) async -> [(String, ObjectCheck.Result)] {
        let work = keys.compactMap { key in objects[key].map { (key, $0, sampled.contains(key)) } }
        // `check` reports every failure as a result; it never throws.
        return (try? await boundedMap(work, width: options.parallel) { key, object, onlyAuthenticate in
            (key, await check.check(key, as: object, authenticateOnly: onlyAuthenticate))
        }) ?? []
    }
}
