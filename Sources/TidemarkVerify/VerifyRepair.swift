import TidemarkArchive
import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage

/// `tidemark verify --repair`: copies objects a repository lacks or holds damaged from another
/// repository whose copy verifies, re-encrypted under the target's own key (every repository
/// has its own data key), with the same kind, compression, chunk size, summary and digest.
/// The caller holds the target's stanza lock. A copy is checked in the target after it is
/// written, as any object is.
package struct VerifyRepair: Sendable {
    package let target: Repository
    package let sources: [(name: String, repository: Repository)]
    package let stanza: String

    package init(target: Repository, sources: [(name: String, repository: Repository)], stanza: String) {
        self.target = target
        self.sources = sources
        self.stanza = stanza
    }

    /// The keys `report` says are damaged or missing in the target: damaged objects, the
    /// segments of every gap, missing history files, and WAL files other repositories recorded
    /// this one as having missed (`alerts/`).
    package static func wanted(_ report: VerifyRepositoryReport, stanza: String, segmentSize: WALSegmentSize?) -> [String] {
        var keys: [String] = []
        for p in report.problems {
            switch p.kind {
            case .damaged, .misplaced, .foreign, .unreadable:
                keys.append(p.object)
            case .missingHistory:
                keys.append(p.object)
            case .gap, .missing, .backup:
                continue
            }
        }
        if let size = segmentSize {
            for gap in report.gaps {
                guard let from = WALSegmentName(gap.from), let first = from.segmentNumber(size: size) else { continue }
                for i in 0..<UInt64(max(0, gap.segments)) {
                    let s = WALSegmentName(timeline: from.timeline, segment: first + i, size: size)
                    keys.append(RepositoryLayout.wal(stanza, .segment(s)))
                }
            }
        }
        var seen = Set<String>()
        return keys.filter { seen.insert($0).inserted }
    }

    /// Copies each of `keys` from the first source whose copy verifies; returns the keys
    /// copied and, for the others, why not.
    package func repair(_ keys: [String]) async -> (repaired: [String], failed: [VerifyProblem]) {
        var repaired: [String] = []
        var failed: [VerifyProblem] = []
        var seen = Set<String>()
        for key in keys where seen.insert(key).inserted {
            guard let object = StanzaObject.classify(key, stanza: stanza) else { continue }
            // Each repository's audit log is its own chain: another's entry is no copy of it.
            if case .auditEntry = object { continue }
            // Packs and index pages are each repository's own (random names, per-repository
            // content): another repository holds no copy of them.
            switch object {
            case .filesPack, .filesIndex: continue
            default: break
            }
            var reasons: [String] = []
            var done = false
            for source in sources {
                do {
                    guard let plain = try await readVerified(key, object: object, from: source.repository) else {
                        reasons.append("\(source.name): not there")
                        continue
                    }
                    try await write(key, plain)
                    repaired.append(key)
                    done = true
                    break
                } catch {
                    reasons.append("\(source.name): \(error)")
                }
            }
            if !done {
                failed.append(VerifyProblem(.missing, object: key, "'\(target.store.location)/\(key)' could not be repaired: " +
                                            (reasons.isEmpty ? "no other repository is configured" : reasons.joined(separator: "; ")),
                                            hint: ObjectCheck.damageHint(object)))
            }
        }
        return (repaired, failed)
    }

    /// WAL files other repositories recorded the target (named `name` in the configuration)
    /// as having missed (`<stanza>/alerts/<name>/<file>.json`, docs/multiple-repositories.md),
    /// as keys; those the target now holds are left out.
    package func alerted(name: String) async -> [String] {
        var keys: [String] = []
        for source in sources {
            guard let listing = try? await source.repository.store.list(prefix: RepositoryLayout.alertPrefix(stanza) + name + "/") else { continue }
            for object in listing.objects {
                guard let name = WALFileName(Self.alertedFile(object.key)) else { continue }
                let key = RepositoryLayout.wal(stanza, name)
                if (try? await target.store.size(key)) ?? nil == nil { keys.append(key) }
            }
        }
        return keys
    }

    /// The WAL file an alert record's key names (`…/<file>.json`).
    static func alertedFile(_ key: String) -> String {
        let last = key.split(separator: "/").last.map(String.init) ?? ""
        return last.hasSuffix(".json") ? String(last.dropLast(5)) : last
    }

    /// Removes the alert records of files the target now holds.
    package func clearAlerts(name: String, repaired: [String]) async {
        let files = Set(repaired.map { String($0.split(separator: "/").last ?? "") })
        for source in sources {
            guard let listing = try? await source.repository.store.list(prefix: RepositoryLayout.alertPrefix(stanza) + name + "/") else { continue }
            let done = listing.objects.map(\.key).filter { files.contains(Self.alertedFile($0)) }
            try? await source.repository.store.deleteMany(done)
        }
    }

    /// A decoded copy with what re-sealing it needs; nil when the source lacks it.
    package struct Plain: Sendable {
        var header: EnvelopeHeader
        var summary: [UInt8]?
        var bytes: [UInt8]
    }

    private func readVerified(_ key: String, object: StanzaObject, from source: Repository) async throws -> Plain? {
        let identity = try? await source.stanzaInfo(stanza)
        switch await ObjectCheck(repository: source, stanza: stanza, identity: identity).check(key, as: object) {
        case .vanished: return nil
        case .bad(let p): throw TidemarkError(.corrupt, p.message)
        case .good: break
        }
        guard let reader = try await source.store.openReader(key) else { return nil }
        var header: EnvelopeHeader?
        var summary: [UInt8]?
        var bytes: [UInt8] = []
        _ = try await decodeObject(reader, key: source.key, inspect: { d in
            if header == nil { header = d.header }
            if summary == nil { summary = d.summary }
        }) { bytes += $0 }
        guard let header else { return nil }
        return Plain(header: header, summary: summary, bytes: bytes)
    }

    private func write(_ key: String, _ plain: Plain) async throws {
        var writer = EnvelopeWriter(key: target.key, kind: plain.header.kind, compression: plain.header.compression,
                                    chunkSize: plain.header.chunkSize, summary: plain.summary,
                                    digest: plain.header.digestKind)
        var out = writer.start()
        out += writer.write(plain.bytes)
        out += writer.finish().bytes
        _ = try await target.store.put(key, bytes: out, ifAbsent: false)
    }
}
