import ArgumentParser
import Synchronization
import Tidemark
import TidemarkAudit
import TidemarkCore
import TidemarkSystem

/// The audit log's side of the executable (docs/audit.md): an audited command hands its
/// engine to `AuditTrail` (`Engine.audited()`), `run` notes the error it reports, and `Entry`
/// calls `finished` once the command's exit status is known. Best effort: a failed append
/// prints one warning line and changes neither the exit status nor the output.
enum AuditTrail {
    struct State {
        var engine: Engine?
        var error: String?
        var target: [String: String] = [:]
    }
    static let state = Mutex(State())

    /// Remembers `engine` (its opened repositories and keys) for the command's record.
    static func use(_ engine: Engine) -> Engine {
        state.withLock { $0.engine = engine }
        return engine
    }

    /// The message of the error the command fails with (never its hints or causes).
    static func noteError(_ message: String) { state.withLock { $0.error = message } }

    /// Something learnt while running (the id of the backup taken).
    static func note(_ key: String, _ value: String) { state.withLock { $0.target[key] = value } }

    /// Records the command that ended with `status`, if it is an audited one whose
    /// configuration loads (one refused by its configuration is not recorded: there is no
    /// repository to record it in).
    static func finished(_ command: any ParsableCommand, status: Int32) async {
        guard let audited = command as? any AuditedCommand else { return }
        let (registered, error, learnt) = state.withLock { ($0.engine, $0.error, $0.target) }
        // A command that failed before making its engine (a restore target refused, say) is
        // recorded through one made here, when its configuration loads.
        guard let engine = registered ?? (try? audited.global.load()).map({ Engine($0, logger: makeLogger()) }) else { return }
        let environment = ProcessEnvironment.current()
        var target = audited.auditTarget.merging(learnt) { $1 }
        target["stanza"] = engine.configuration.stanza
        let event = AuditEvent(action: audited.auditAction, actor: AuditProcess.actor(environment: environment),
                               source: AuditProcess.source(environment: environment), target: target,
                               detail: audited.auditDetail, success: status == 0, exitCode: status,
                               error: status == 0 ? nil : error)
        if let warning = await engine.recordAudit(event, mirror: mirror(engine.configuration, environment: environment)) {
            writeStderr(warning + "\n")
        }
    }

    /// The local mirror of `configuration`'s stanza: `audit.mirrorPath`, else the default path.
    static func mirror(_ configuration: Configuration, environment: [String: String]) -> AuditMirror {
        if let path = configuration.service.audit?.mirrorPath, path.hasPrefix("/") { return AuditMirror(path: path) }
        return AuditMirror(path: AuditMirror.defaultPath(stanza: configuration.stanza, environment: environment, home: OSUser.current.home))
    }
}

extension Engine {
    /// This engine, remembered as the one whose repositories record the command (`AuditTrail`).
    func audited() -> Engine { AuditTrail.use(self) }
}

/// A command recorded in the audit log: what it is called there and what it acted on.
protocol AuditedCommand {
    var global: GlobalOptions { get }
    var auditAction: String { get }
    var auditTarget: [String: String] { get }
    var auditDetail: [String: String] { get }
}

extension AuditedCommand {
    var auditTarget: [String: String] { [:] }
    var auditDetail: [String: String] { [:] }
}

/// `[key: value]` for the values that are given.
private func given(_ pairs: (String, String?)...) -> [String: String] {
    var out: [String: String] = [:]
    for (k, v) in pairs { if let v { out[k] = v } }
    return out
}

extension TargetOptions {
    var auditTarget: [String: String] {
        given(("targetTime", targetTime), ("targetLSN", targetLsn), ("targetXID", targetXid), ("targetName", targetName),
              ("targetTimeline", targetTimeline), ("target", targetImmediate ? "immediate" : latest ? "latest" : nil))
    }
}

extension BackupCommand: AuditedCommand {
    var auditAction: String { "backup" }
    var auditTarget: [String: String] { given(("repository", repo)) }
    var auditDetail: [String: String] { given(("type", type == "full" ? "full" : "incremental"), ("label", label)) }
}

extension RestoreCommand: AuditedCommand {
    var auditAction: String { "restore" }
    var auditTarget: [String: String] { target.auditTarget.merging(given(("backup", backup), ("directory", to))) { $1 } }
    var auditDetail: [String: String] { given(("dryRun", dryRun ? "true" : nil), ("force", force ? "true" : nil)) }
}

extension PlanCommand: AuditedCommand {
    var auditAction: String { "plan" }
    var auditTarget: [String: String] { target.auditTarget.merging(given(("backup", backup))) { $1 } }
}

extension ExpireCommand: AuditedCommand {
    var auditAction: String { "expire" }
    var auditTarget: [String: String] { given(("repository", repo)) }
    var auditDetail: [String: String] { given(("dryRun", dryRun ? "true" : nil), ("asOf", asOf), ("apply", apply)) }
}

extension DeleteCommand: AuditedCommand {
    var auditAction: String { "delete" }
    var auditTarget: [String: String] { given(("backup", backup), ("repository", repo)) }
    var auditDetail: [String: String] { given(("dryRun", dryRun ? "true" : nil), ("cascade", cascade ? "true" : nil)) }
}

extension PinCommand: AuditedCommand {
    var auditAction: String { "pin" }
    var auditTarget: [String: String] { given(("backup", id), ("repository", repo)) }
    var auditDetail: [String: String] { given(("reason", reason)) }
}

extension UnpinCommand: AuditedCommand {
    var auditAction: String { "unpin" }
    var auditTarget: [String: String] { given(("backup", id), ("repository", repo)) }
}

extension VerifyCommand: AuditedCommand {
    var auditAction: String { "verify" }
    var auditTarget: [String: String] { given(("backup", backup), ("repository", repo), ("since", since), ("filesSnapshot", filesSnapshot)) }
    var auditDetail: [String: String] {
        given(("scope", filesSnapshot != nil ? "files-snapshot" : wal ? "wal" : backup != nil ? "backup" : since != nil ? "since" : "all"), ("full", full ? "true" : nil),
              ("repair", repair ? "true" : nil))
    }
}

extension RehearseCommand: AuditedCommand {
    var auditAction: String { "rehearse" }
    var auditTarget: [String: String] { target.auditTarget.merging(given(("backup", backup))) { $1 } }
    var auditDetail: [String: String] { given(("random", random ? "true" : nil), ("seed", seed.map(String.init))) }
}

extension KeyChangeCommand: AuditedCommand {
    var auditAction: String { "key-change" }
}

extension KeyAddCommand: AuditedCommand {
    var auditAction: String { "key-add" }
    var auditTarget: [String: String] { ["slot": name] }
}

extension KeyRemoveCommand: AuditedCommand {
    var auditAction: String { "key-remove" }
    var auditTarget: [String: String] { ["slot": name] }
}

/// wal-fetch runs once per segment and is not recorded; the prefetcher it starts is, once,
/// as `wal-fetch-session` (from its own detached process, so no fetch waits for it).
enum WALFetchSessionAudit {
    static func record(_ engine: Engine, spool: String, dataDirectory: String?, repo: String?) async {
        let environment = ProcessEnvironment.current()
        let event = AuditEvent(action: "wal-fetch-session", actor: AuditProcess.actor(environment: environment),
                               source: AuditProcess.source(environment: environment),
                               target: given(("stanza", engine.configuration.stanza), ("dataDirectory", dataDirectory), ("repository", repo)),
                               detail: ["spool": spool], success: true, exitCode: 0)
        if let warning = await engine.recordAudit(event, mirror: AuditTrail.mirror(engine.configuration, environment: environment)) {
            writeStderr(warning + "\n")
        }
    }
}

extension Engine {
    /// As `audited()`, with every repository opened now, with the configured key: the key
    /// commands change what that key opens, and the record is written after them.
    func auditedOpening() async -> Engine {
        _ = await auditLogs()
        return audited()
    }
}
