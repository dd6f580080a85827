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
        var sequence = PlanSequence(engine: self, request: request, report: report)
        var options = options
        options.protectedPaths += protectedPaths()
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
            do {
                return (try await BackupStore(repository: repo, stanza: configuration.stanza).restore(plan.catalog, options: options), plan)
            } catch let e as TidemarkError where (e.code == .corrupt || e.code == .notFound || e.code == .io)
                && sequence.index < configuration.repositories.count {
                // The failed attempt removed what it wrote: the targets are as they were found.
                report("tidemark: restoring from repository '\(plan.repository)' failed (\(e.message)); removed what it wrote into \(options.directory) and trying '\(configuration.repositories[sequence.index].name)'")
                // Anything --force was to delete is gone already; nothing else may be.
                options.force = false
                options.confirmDeletion = nil
            }
        }
        throw sequence.lastError ?? TidemarkError(.notFound, "no repository holds backups of stanza '\(configuration.stanza)'")
    }
}
