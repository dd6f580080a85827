import TidemarkCodec
import TidemarkCore
import TidemarkFiles
import TidemarkPolicy
import TidemarkRepository
import TidemarkStorage

/// The file-backup half of `expire` in one repository (docs/retention.md, "File snapshots"):
/// which file snapshots the policy keeps (`FilesRetention`, pure), then, unless a dry run,
/// their deletion and the pruning of the packs only they used (`FilesPrune`).
///
/// Order, safe if killed anywhere: snapshots are deleted first (a snapshot that is listed still
/// has every chunk), then every chunk the kept snapshots reference is collected by walking
/// their trees, then `FilesPrune` rewrites mostly-garbage packs and deletes dead ones. A kill
/// after the snapshots leaves garbage the next run removes. The caller holds the stanza lock,
/// so no file backup writes meanwhile.
public struct FilesExpireRun: Sendable {
    package let name: String
    package let repository: Repository
    package let stanza: String
    package let policy: RetentionPolicy
    package let now: Int64
    package let asOf: Int64?

    package init(name: String, repository: Repository, stanza: String, policy: RetentionPolicy, now: Int64, asOf: Int64?) {
        self.name = name
        self.repository = repository
        self.stanza = stanza
        self.policy = policy
        self.now = now
        self.asOf = asOf
    }

    var files: FilesRepository { FilesRepository(name: name, store: repository.store, key: repository.key) }

    /// What the plan is made from.
    package struct State: Sendable {
        package var secret: FilesSecret
        /// Oldest first.
        package var snapshots: [FilesSnapshot]
    }

    /// Whether this repository holds file backups of the stanza (one read: the files secret).
    package func holdsFileBackups() async throws -> Bool {
        try await FilesSecretStore.read(stanza: stanza, files) != nil
    }

    /// nil when this repository holds no file backups of the stanza (no files secret).
    package func read() async throws -> State? {
        guard let secret = try await FilesSecretStore.read(stanza: stanza, files) else { return nil }
        let snapshots = try await FilesSnapshotStore(store: repository.store, key: repository.key, stanza: stanza).readAll()
        return State(secret: secret, snapshots: snapshots)
    }

    package func plan(_ state: State, keptDatabaseBackups: Set<String>, windowStart: Int64?) -> FilesRetention.Plan {
        let snapshots = state.snapshots.map {
            FilesRetention.Snapshot(id: $0.id, time: Self.seconds($0.time), databaseBackup: $0.databaseBackupID)
        }
        return FilesRetention.evaluate(policy, snapshots: snapshots, keptDatabaseBackups: keptDatabaseBackups,
                                       windowStart: windowStart, now: now, asOf: asOf)
    }

    /// The lines this repository's files plan adds to the plan hash.
    package static func hashText(_ plan: FilesRetention.Plan) -> String {
        var text = ""
        for d in plan.decisions.sorted(by: { $0.id < $1.id }) { text += "files \(d.keep ? "keep" : "delete") \(d.id)\n" }
        if let hold = plan.hold { text += "files hold \(hold)\n" }
        return text
    }

    package struct Outcome: Sendable, Equatable {
        package var snapshotsDeleted = 0
        package var prune = FilesPrune.Report()
    }

    /// Deletes the snapshots `plan` drops, then prunes the packs (with `dryRun`, only reports
    /// what pruning would do after those deletions: nothing is written).
    package func execute(_ plan: FilesRetention.Plan, state: State, lease: Lease?, dryRun: Bool) async throws -> Outcome {
        var outcome = Outcome()
        let doomed = Set(plan.deleted)
        if !dryRun, !doomed.isEmpty {
            try lease?.checkHeld()
            let keys = doomed.sorted().map { FilesLayout.snapshot(stanza, $0) }
            do { try await repository.store.deleteMany(keys) } catch {
                throw TidemarkError.wrap(error, doing: "delete expired file snapshots in repository '\(name)'")
            }
            outcome.snapshotsDeleted = keys.count
        }
        let kept = state.snapshots.filter { !doomed.contains($0.id) }
        let source = try await RepositoryChunkStore.reading(stanza: stanza, repository: files, secret: state.secret)
        let live: Set<ChunkID>
        do {
            live = try await FilesReachable.chunks(of: kept, source: source).chunks
        } catch {
            throw TidemarkError.wrap(error, doing: "read the trees of the kept file snapshots in repository '\(name)' (no pack was pruned)")
        }
        try lease?.checkHeld()
        outcome.prune = try await FilesPrune.run(stanza: stanza, repository: files, secret: state.secret, dryRun: dryRun,
                                                 isReferenced: { live.contains($0) })
        return outcome
    }

    /// Snapshot times are nanoseconds since the epoch; retention counts seconds.
    static func seconds(_ nanoseconds: Int64) -> Int64 {
        nanoseconds >= 0 ? nanoseconds / 1_000_000_000 : (nanoseconds - 999_999_999) / 1_000_000_000
    }
}
