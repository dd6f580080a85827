import TidemarkCore
import TidemarkFiles
import TidemarkRepository
import TidemarkVerify

/// What `verify --files-snapshot ID` found, per file repository (docs/verify.md).
public struct FilesSnapshotVerifyReport: Sendable, Encodable {
    public struct Repository: Sendable, Encodable {
        public var name: String
        /// `ok`, `problems`, or `absent` (the repository does not hold the snapshot: a repository
        /// added after it was taken; restores read it from another).
        public var status: String
        /// Directory trees read, chunks the snapshot references (trees included), packs read in full.
        public var trees = 0
        public var chunks = 0
        public var packs = 0
        public var bytesRead: Int64 = 0
        public var problems: [VerifyProblem] = []
    }
    public var snapshot: String
    public var repositories: [Repository] = []
    public var problems: Int { repositories.reduce(0) { $0 + $1.problems.count } }
}

extension Engine {
    /// `verify --files-snapshot ID`: in every file repository that holds the snapshot, every
    /// chunk it references (each file's and each directory tree's) is named by the index, and
    /// every pack holding them is read in full and authenticates (`ObjectCheck`, as `verify`
    /// reads packs). Reads only; a snapshot no repository holds is `notFound`.
    public func verifyFilesSnapshot(id: String) async throws -> FilesSnapshotVerifyReport {
        let snapshot = try await filesSnapshot(id: id, asOf: nil)
        var report = FilesSnapshotVerifyReport(snapshot: snapshot.id)
        for r in try await filesRepositories() {
            let held = try await FilesSnapshotStore(store: r.store, key: r.key, stanza: configuration.stanza).read(snapshot.id)
            guard held != nil else {
                report.repositories.append(.init(name: r.name, status: "absent"))
                continue
            }
            report.repositories.append(try await verifyFilesSnapshot(snapshot, in: r))
        }
        return report
    }

    private func verifyFilesSnapshot(_ snapshot: FilesSnapshot, in r: OpenedFilesRepository) async throws -> FilesSnapshotVerifyReport.Repository {
        let stanza = configuration.stanza
        let repository = Self.filesRepository(r)
        var out = FilesSnapshotVerifyReport.Repository(name: r.name, status: "ok")
        let source = try await RepositoryChunkStore.open(stanza: stanza, repositories: [repository])
        // Every chunk the snapshot references, with the first path that uses it (for messages).
        var referenced: [ChunkID: [UInt8]] = [:]
        var pending: [(tree: ChunkID, path: [UInt8])] = []
        for root in snapshot.roots {
            guard let entry = root.root, let tree = entry.subtree else { continue }
            pending.append((tree, root.path))
        }
        while let next = pending.popLast() {
            let (treeID, path) = next
            referenced[treeID] = referenced[treeID] ?? path
            let tree: FilesTree
            do {
                tree = try FilesTree.decode(try await source.chunk(treeID), what: "directory tree \(treeID)")
            } catch let e as TidemarkError where e.code == .notFound {
                continue  // reported as a missing chunk below
            } catch {
                out.problems.append(VerifyProblem(.damaged, object: "\(treeID)", "the directory tree of '\(FilesPath.display(path))' (chunk \(treeID)) cannot be read: \(error)",
                                                  hint: ObjectCheck.damageHint(.filesPack(""))))
                continue
            }
            out.trees += 1
            for e in tree.entries {
                let child = FilesPath.join(path, e.name)
                if let sub = e.subtree { pending.append((sub, child)) }
                for c in e.chunks where referenced[c] == nil { referenced[c] = child }
            }
        }
        out.chunks = referenced.count

        // The index: which pack holds each referenced chunk.
        var packs: [String: [UInt8]] = [:]
        var found = Set<ChunkID>()
        let prefix = FilesLayout.indexPrefix(stanza)
        let pages: [String]
        do { pages = try await r.store.list(prefix: prefix).objects.map(\.key).sorted() } catch {
            throw TidemarkError.wrap(error, doing: "list the files index of repository '\(r.name)'")
        }
        for key in pages {
            let page = try await FilesIndexPage.read(key, from: repository)
            for i in 0..<page.count {
                let entry = page.entry(i)
                guard let path = referenced[entry.id], found.insert(entry.id).inserted else { continue }
                packs[entry.pack] = packs[entry.pack] ?? path
            }
        }
        for (id, path) in referenced where !found.contains(id) {
            out.problems.append(VerifyProblem(.missing, object: "\(id)", "chunk \(id) of '\(FilesPath.display(path))' is in no index page of repository '\(r.name)'",
                                              hint: "restore the snapshot from another repository if one holds it; the next `tidemark files backup --type full` stores the file again"))
        }

        // Each pack read in full and authenticated.
        let check = ObjectCheck(repository: r.repository, stanza: stanza, identity: nil)
        for (pack, path) in packs.sorted(by: { $0.key < $1.key }) {
            let key = FilesLayout.pack(stanza, pack)
            switch await check.check(key, as: .filesPack(pack)) {
            case .good(let outcome):
                out.packs += 1
                out.bytesRead += outcome.bytesRead
            case .vanished:
                out.problems.append(VerifyProblem(.missing, object: key, "pack '\(key)' (first used by '\(FilesPath.display(path))') is missing from repository '\(r.name)'",
                                                  hint: ObjectCheck.damageHint(.filesPack(pack))))
            case .bad(var problem):
                problem.message += " (first used by '\(FilesPath.display(path))')"
                out.problems.append(problem)
            }
        }
        out.problems.sort { ($0.object, $0.message) < ($1.object, $1.message) }
        if !out.problems.isEmpty { out.status = "problems" }
        return out
    }
}
