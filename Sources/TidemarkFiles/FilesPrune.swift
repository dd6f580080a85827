import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage

/// Carries out the pack half of `expire` in one repository, in an order that is safe if killed
/// at any point (no index page ever names a missing pack; what a kill leaves is garbage the
/// next run removes):
/// 1. stream the index pages (one at a time) and total, per pack, the bytes the index names
///    and those still referenced; list the packs;
/// 2. decide (`FilesPrunePlan.decide`);
/// 3. copy the live chunks of the packs to rewrite into new packs, and write their index
///    page(s) once those packs are durable;
/// 4. for every old page that names a doomed pack, write a replacement page without those
///    entries, then delete the old pages;
/// 5. delete the doomed packs: no page names them any more.
/// Memory: a counter per pack, the pack set of each page, and the entries of the packs being
/// rewritten — never the whole index. The caller holds the stanza's lock (no file backup runs)
/// and passes which chunk ids kept snapshots still reference.
public enum FilesPrune {
    public struct Report: Sendable, Equatable {
        public var plan = FilesPrunePlan()
        public var pagesRead = 0
        public var pagesWritten = 0
        public var pagesDeleted = 0
        public var chunksCopied = 0
        public init() {}
    }

    public static func run(stanza: String, repository: FilesRepository, secret: FilesSecret, dryRun: Bool = false,
                           garbageThreshold: Double = 0.5, isReferenced: @Sendable (ChunkID) -> Bool) async throws -> Report {
        var report = Report()
        let pageKeys = try await list(repository, FilesLayout.indexPrefix(stanza)).map(\.key).sorted()
        var usage: [String: FilesPackUsage] = [:]
        var packsOfPage: [String: Set<String>] = [:]
        for key in pageKeys {
            let page = try await FilesIndexPage.read(key, from: repository)
            report.pagesRead += 1
            var packs = Set<String>()
            for i in 0..<page.count {
                let e = page.entry(i)
                packs.insert(e.pack)
                var u = usage[e.pack] ?? FilesPackUsage(pack: e.pack)
                u.bytes += Int64(e.length)
                u.chunks += 1
                if isReferenced(e.id) {
                    u.liveBytes += Int64(e.length)
                    u.liveChunks += 1
                }
                usage[e.pack] = u
            }
            packsOfPage[key] = packs
        }
        let packKeys = try await listPacks(repository, stanza: stanza)
        let stored = Set(packKeys.keys)
        let plan = FilesPrunePlan.decide(usage.values.filter { stored.contains($0.pack) }, unindexed: Array(stored),
                                         garbageThreshold: garbageThreshold)
        report.plan = plan
        guard !dryRun, plan.changesAnything else { return report }

        let rewrite = Set(plan.rewrite)
        let doomed = rewrite.union(plan.delete)
        if !rewrite.isEmpty {
            let writer = RepositoryChunkStore(stanza: stanza, repositories: [repository], secret: secret, indexes: [FilesIndex()],
                                              compressionLevel: 3)
            let reader = FilesChunkReader(stanza: stanza, secret: secret, repositories: [repository])
            for key in pageKeys where !(packsOfPage[key] ?? []).isDisjoint(with: rewrite) {
                let page = try await FilesIndexPage.read(key, from: repository)
                for i in 0..<page.count {
                    let e = page.entry(i)
                    guard rewrite.contains(e.pack), isReferenced(e.id), !(try await writer.contains(e.id)) else { continue }
                    let plaintext = try await reader.chunk(e, from: 0)
                    try await writer.put(e.id, bytes: plaintext, compressible: e.compressed)
                    report.chunksCopied += 1
                }
            }
            try await writer.flush()
            report.pagesWritten += await writer.pagesWritten
        }
        // Replacement pages first, then the old pages: a kill in between leaves duplicates.
        var obsolete: [String] = []
        for key in pageKeys where !(packsOfPage[key] ?? []).isDisjoint(with: doomed) {
            let page = try await FilesIndexPage.read(key, from: repository)
            let kept = page.entries.filter { !doomed.contains($0.pack) }
            if !kept.isEmpty {
                try await RepositoryChunkStore.writePage(kept, stanza: stanza, repository: repository)
                report.pagesWritten += 1
            }
            obsolete.append(key)
        }
        do {
            try await repository.store.deleteMany(obsolete)
            report.pagesDeleted = obsolete.count
            try await repository.store.deleteMany(doomed.sorted().compactMap { packKeys[$0] })
        } catch {
            throw TidemarkError.wrap(error, doing: "delete file-backup packs and index pages in repository '\(repository.name)'")
        }
        return report
    }

    static func list(_ repository: FilesRepository, _ prefix: String) async throws -> [ObjectInfo] {
        do { return try await repository.store.list(prefix: prefix).objects } catch {
            throw TidemarkError.wrap(error, doing: "list '\(prefix)' in repository '\(repository.name)'")
        }
    }

    /// Pack id → key, for every pack stored.
    static func listPacks(_ repository: FilesRepository, stanza: String) async throws -> [String: String] {
        let top: ObjectListing
        do { top = try await repository.store.list(prefix: FilesLayout.packPrefix(stanza)) } catch {
            throw TidemarkError.wrap(error, doing: "list the packs of repository '\(repository.name)'")
        }
        var out: [String: String] = [:]
        for prefix in top.prefixes {
            for object in try await list(repository, prefix) {
                let id = String(object.key.split(separator: "/").last ?? "")
                out[id] = object.key
            }
        }
        return out
    }
}
