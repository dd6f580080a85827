#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCodec
import TidemarkStorage

extension Engine {
    /// The restore_command to write: this binary, the same configuration, quoted for the shell.
    /// A key given as BACKUP_ENCRYPTION_KEY itself cannot be written anywhere: the server must
    /// get it from its environment (a notice says so). With `onlyFrom`, wal-fetch reads only that
    /// repository (`PlanReport.readsOnlyFrom`).
    public func restoreCommand(environment: [String: String],
                                      executable: String, onlyFrom repository: String? = nil) -> (command: String, notices: [String]) {
        var words: [String] = []
        var notices: [String] = []
        if configuration.configFile == nil || environment["BACKUP_DIR"] != nil,
           let dir = configuration.repositories.first(where: { $0.type == .posix })?.path {
            words.append("BACKUP_DIR=" + RecoveryConfig.shellWord(dir))
        }
        if let keyFile = environment["BACKUP_ENCRYPTION_KEY_FILE"], environment["BACKUP_ENCRYPTION_KEY"] == nil {
            words.append("BACKUP_ENCRYPTION_KEY_FILE=" + RecoveryConfig.shellWord(ConfigurationLoader.absolute(keyFile)))
        }
        if environment["BACKUP_ENCRYPTION_KEY"] != nil {
            notices.append("the key came from BACKUP_ENCRYPTION_KEY, which is never written to disk: start the restored server with BACKUP_ENCRYPTION_KEY in its environment, or use a key file")
        }
        words.append(RecoveryConfig.shellWord(executable))
        if let file = configuration.configFile { words += ["--config", RecoveryConfig.shellWord(file)] }
        words += ["--stanza", RecoveryConfig.shellWord(configuration.stanza), "wal-fetch"]
        if let repository { words += ["--repo", RecoveryConfig.shellWord(repository)] }
        words += ["\"%f\"", "\"%p\""]
        return (words.joined(separator: " "), notices)
    }

    /// What a restore must never delete or write into: every file-system repository, the key
    /// file and the configuration file.
    package func protectedPaths() -> [(path: String, what: String)] {
        var paths: [(path: String, what: String)] = configuration.repositories.filter { $0.type == .posix }
            .map { ($0.path, "repository '\($0.name)'") }
        if let key = configuration.keyFile { paths.append((key, "the key file")) }
        if let file = configuration.configFile { paths.append((file, "the configuration file")) }
        for (name, s3) in configuration.s3Settings {
            if let ca = s3.caBundle { paths.append((ca, "the CA bundle of repository '\(name)'")) }
        }
        return paths
    }

    /// The running binary's absolute path.
    public static func executablePath(fallback: String) -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return ConfigurationLoader.absolute(fallback) }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `tidemark restore`: plans first (nothing is written when the target is unreachable),
    /// then restores the chosen backup and writes the plan's recovery settings. Reads from the
    /// first repository that can plan; if restoring from it fails (a missing or damaged
    /// object), the target is cleared and the next repository is tried, and `report` says so.
    public func restore(request: PlanRequest, action: RecoveryTargetAction,
                               options: RestoreOptions, report: @escaping @Sendable (String) -> Void = { _ in })
        async throws -> (RestoreReport, PlanReport)
    {
        var options = options
        options.protectedPaths += protectedPaths()
        for attempt in 0... {
            do {
                return try await restoreOnce(request: request, action: action, options: options, report: report)
            } catch let wait as ExpiryRunning where attempt < 60 {
                // Expire read the restores in progress before this one registered: let it finish, then plan again.
                if attempt == 0 { report("tidemark: NOTICE: \(wait.holder) is deleting expired backups in repository '\(wait.repository)'; waiting for it to finish, then planning again") }
                try await Task.sleep(for: .seconds(5))
            }
        }
        throw TidemarkError(.busy, "restore waited 5 minutes for expire to finish")
    }

    /// Thrown when expire or delete held the lock as a restore registered: the plan may name
    /// what it is deleting.
    struct ExpiryRunning: Error {
        var repository: String
        var holder: String
    }

    private func restoreOnce(request: PlanRequest, action: RecoveryTargetAction,
                             options: RestoreOptions, report: @escaping @Sendable (String) -> Void) async throws -> (RestoreReport, PlanReport) {
        var sequence = PlanSequence(engine: self, request: request, report: report)
        var options = options
        let baseCommand = options.restoreCommand
        while let (plan, repo) = try await sequence.next() {
            var command = baseCommand
            if let only = plan.readsOnlyFrom {
                if let onlyFrom = options.restoreCommandOnlyFrom {
                    command = onlyFrom(only)
                } else {
                    report("tidemark: NOTICE: restore_command reads from every repository; recovery stops if one of them cannot answer (use wal-fetch --repo \(only))")
                }
            }
            if let server = options.restoredServer {
                command = server.restoreCommand(onlyFrom: plan.readsOnlyFrom)
                let proven = command
                let directory = options.directory
                let timeout = Duration.seconds(max(60, configuration.ioTimeoutSeconds * 3))
                let first = plan.plan.segments.first.map { "\($0)" }
                let temporary = configuration.tempDirectory
                options.beforeWriting = {
                    guard let first else { return }
                    try server.write()
                    defer { unlink(server.path) }
                    try await RestoredServerConfiguration.prove(command: proven, segment: first, dataDirectory: directory,
                                                                user: nil, timeout: timeout, temporaryDirectory: temporary)
                }
            }
            options.restoreCommand = command
            options.recoverySettings = RecoverySettings(plan: plan.plan, restoreCommand: command, action: action).lines
            options.recoveryComment = plan.summaryLine
            // Once the targets are checked and before anything is written, the restore records
            // itself: expire and delete keep this backup and its WAL from then on. One already
            // running read the records before this one, so it is waited for (ExpiryRunning).
            let presenceBox = LockedBox<ReaderPresence?>(nil)
            let previous = options.beforeWriting
            let lock = stanzaLock(in: repo)
            let (store, stanza, clock) = (repo.store, configuration.stanza, now)
            let (backup, timeline, repositoryName) = (plan.catalog.id, plan.plan.targetTimeline.rawValue, plan.repository)
            options.beforeWriting = {
                do {
                    let presence = try await ReaderPresence.register(store: store, stanza: stanza, command: "restore", backup: backup,
                                                                     timeline: timeline, now: clock(), seconds: ReaderPresence.recoveryHoldSeconds)
                    presenceBox.mutate { $0 = presence }
                    if let holder = try await lock.holder(), holder.command == "expire" || holder.command == "delete" {
                        await presence.remove()
                        presenceBox.mutate { $0 = nil }
                        throw ExpiryRunning(repository: repositoryName, holder: "\(holder.command) (pid \(holder.pid) on \(holder.host))")
                    }
                } catch let e as ExpiryRunning {
                    throw e
                } catch {
                    // Read-only credentials restore too; only the protection from a concurrent expire is lost.
                    report("tidemark: NOTICE: could not record this restore in repository '\(repositoryName)' (\(TidemarkError.wrap(error, doing: "write its reader record").message)); do not run `tidemark expire` until the restored server has finished recovery")
                }
                try await previous?()
            }
            let presence = { presenceBox.value }
            do {
                let restored = try await BackupStore(repository: repo, stanza: configuration.stanza).restore(plan.catalog, options: options)
                // The restored server's recovery fetches WAL from here for a while yet.
                try? await presence()?.extend(now: now(), seconds: ReaderPresence.recoveryHoldSeconds)
                return (restored, plan)
            } catch let e as TidemarkError where (e.code == .corrupt || e.code == .notFound || e.code == .io)
                && sequence.index < configuration.repositories.count {
                await presence()?.remove()
                // The failed attempt removed what it wrote: the targets are as they were found.
                report("tidemark: restoring from repository '\(plan.repository)' failed (\(e.message)); removed what it wrote into \(options.directory) and trying '\(configuration.repositories[sequence.index].name)'")
                // Anything --force was to delete is gone already; nothing else may be.
                options.force = false
                options.confirmDeletion = nil
            } catch {
                await presence()?.remove()
                throw error
            }
        }
        throw sequence.lastError ?? TidemarkError(.notFound, "no repository holds backups of stanza '\(configuration.stanza)'")
    }
}
