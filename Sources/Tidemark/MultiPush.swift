#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCodec

/// The record that an optional repository missed a WAL file (docs/multiple-repositories.md).
/// Written as plain JSON to `<stanza>/alerts/<repository>/<file>.json` in every repository that
/// did store the file; reported by `check` and `info` until the repository holds the file.
public struct MissedWAL: Codable, Sendable, Equatable, Hashable {
    /// The optional repository that does not hold the file.
    public var repository: String
    /// The WAL file name.
    public var file: String
    /// When the miss happened (ISO 8601, UTC).
    public var recorded: String
    /// Why the push failed.
    public var error: String
}

/// `wal-push` to several repositories at once: one child task per repository, each bounded by
/// its own store's I/O deadline, so an unreachable repository costs at most its own timeout.
package struct MultiPush {
    package let engine: Engine
    package let passphrase: Secret
    /// Hashed and scanned once for all the repositories.
    package let file: PreparedWALFile
    /// Each repository opened once per engine and kept (the resident archiver) instead of
    /// opened together with the file's object for this push (wal-push, one push per process).
    package var keepOpen = false

    package func run() async throws -> [String] {
        let configuration = engine.configuration
        let specs = configuration.repositories
        let (engine, passphrase, file, keepOpen) = (self.engine, self.passphrase, self.file, self.keepOpen)
        let path = file.path
        let base = FileIO.basename(path)
        let results = await withTaskGroup(of: (Int, Result<(WALArchive, PushOutcome), TidemarkError>).self) { group in
            for (i, spec) in specs.enumerated() {
                group.addTask {
                    do {
                        let archive = keepOpen
                            ? engine.archive(try await engine.open(spec, passphrase: passphrase), spec: spec)
                            : try await engine.archiveForPush(spec, passphrase: passphrase, name: file.name)
                        return (i, .success((archive, try await archive.push(file))))
                    } catch {
                        return (i, .failure(TidemarkError.wrap(error, doing: "archive '\(base)' to repository '\(spec.name)'")))
                    }
                }
            }
            var out = [Result<(WALArchive, PushOutcome), TidemarkError>?](repeating: nil, count: specs.count)
            for await (i, result) in group { out[i] = result }
            return out
        }

        var notices: [String] = []
        var holders: [WALArchive] = []
        var failures: [(RepositorySpec, TidemarkError)] = []
        for (spec, result) in zip(specs, results) {
            switch result {
            case .success(let (archive, outcome))?:
                holders.append(archive)
                notices += Engine.notices(for: outcome, archive: archive, path: path)
            case .failure(let error)?:
                failures.append((spec, error))
            case nil:
                failures.append((spec, TidemarkError(.io, "internal: no result for repository '\(spec.name)'")))
            }
        }
        // Not a WAL file, or different content under the same name anywhere: never success.
        if let (_, error) = failures.first(where: { $0.1.code == .invalidInput || $0.1.code == .conflict }) {
            throw error
        }
        if let (spec, error) = failures.first(where: { $0.0.required }) {
            let others = failures.count > 1 ? " (and \(failures.count - 1) other repositories failed)" : ""
            throw TidemarkError(error.code, "required repository '\(spec.name)': \(error.message)\(others)", hints: error.hints)
        }
        for (spec, error) in failures {
            let miss = MissedWAL(repository: spec.name, file: base, recorded: engine.now().formatted(.iso8601), error: error.message)
            let recordedIn = await record(miss, in: holders)
            let where_ = recordedIn.isEmpty
                ? "the miss could not be recorded in any repository"
                : "recorded as \(RepositoryLayout.alert(configuration.stanza, repository: spec.name, file: base)) in " + recordedIn.map { "'\($0)'" }.joined(separator: ", ")
            notices.append("tidemark: ALERT: optional repository '\(spec.name)' does not hold '\(base)': \(error.message); \(where_); archiving goes on in the required repositories")
        }
        return notices
    }

    /// Writes the miss into each repository that holds the file; returns their names.
    package func record(_ miss: MissedWAL, in holders: [WALArchive]) async -> [String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let json = try? encoder.encode(miss) else { return [] }
        let key = RepositoryLayout.alert(engine.configuration.stanza, repository: miss.repository, file: miss.file)
        var names: [String] = []
        for holder in holders {
            if (try? await holder.store.put(key, bytes: Array(json) + [10], ifAbsent: true)) != nil {
                names.append(holder.repositoryName ?? holder.location)
            }
        }
        return names
    }
}

extension Engine {
    /// Recorded misses of stanza `configuration.stanza` whose file the missing repository still
    /// lacks. Records that are resolved (the file has arrived since) are skipped, and removed
    /// when `removeResolved`. `repositories` are the ones that could be opened.
    package func outstandingAlerts(repositories: [(RepositorySpec, Repository)],
                                  removeResolved: Bool = false) async throws -> [MissedWAL] {
        let stanza = configuration.stanza
        var found: [MissedWAL] = []
        var keys: [MissedWAL: [(Repository, String)]] = [:]
        for (spec, repo) in repositories {
            let top: ObjectListing
            do { top = try await repo.store.list(prefix: RepositoryLayout.alertPrefix(stanza)) } catch {
                throw TidemarkError.wrap(error, doing: "list the alerts of stanza '\(stanza)' in repository '\(spec.name)'")
            }
            for prefix in top.prefixes {
                let listing: ObjectListing
                do { listing = try await repo.store.list(prefix: prefix) } catch {
                    throw TidemarkError.wrap(error, doing: "list '\(prefix)' in repository '\(spec.name)'")
                }
                for object in listing.objects {
                    guard let bytes = try? await repo.store.get(object.key),
                          let miss = try? JSONDecoder().decode(MissedWAL.self, from: Data(bytes)) else { continue }
                    var identity = miss
                    identity.recorded = ""
                    identity.error = ""
                    if keys[identity] == nil { found.append(miss) }
                    keys[identity, default: []].append((repo, object.key))
                }
            }
        }
        var outstanding: [MissedWAL] = []
        for miss in found {
            var identity = miss
            identity.recorded = ""
            identity.error = ""
            if let target = repositories.first(where: { $0.0.name == miss.repository })?.1, let name = WALFileName(miss.file),
               (try? await target.store.size(RepositoryLayout.wal(stanza, name))) != nil {
                if removeResolved {
                    for (repo, key) in keys[identity] ?? [] { try? await repo.store.delete(key) }
                }
                continue
            }
            outstanding.append(miss)
        }
        return outstanding.sorted { ($0.repository, $0.file) < ($1.repository, $1.file) }
    }
}
