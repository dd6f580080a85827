import TidemarkAudit
import TidemarkCore

/// The audit log (docs/audit.md; the logic is TidemarkAudit's): one log per configured
/// repository, opened with the engine's repositories (a key already unwrapped is reused).
extension Engine {
    /// The stanza's audit log in every configured repository (or only `only`), and those that
    /// could not be opened, with why.
    public func auditLogs(only: String? = nil) async -> (logs: [(name: String, log: AuditLog)], unavailable: [(name: String, error: String)]) {
        var logs: [(name: String, log: AuditLog)] = []
        var unavailable: [(name: String, error: String)] = []
        for spec in configuration.repositories where only == nil || spec.name == only {
            do {
                let repository = try await open(spec, passphrase: try configuration.requireKey())
                logs.append((spec.name, AuditLog(repository: repository, stanza: configuration.stanza)))
            } catch {
                unavailable.append((spec.name, (error as? TidemarkError)?.message ?? "\(error)"))
            }
        }
        return (logs, unavailable)
    }

    /// Records `event` in every repository's audit log and in `mirror`, best effort: returns
    /// the one warning line to print when something failed, never throws. (A stanza that
    /// holds only its audit log does not count as existing: `holdsStanza`.)
    public func recordAudit(_ event: AuditEvent, mirror: AuditMirror?) async -> String? {
        let (logs, unavailable) = await auditLogs()
        return await AuditRecorder(logs: logs, mirror: mirror, unavailable: unavailable, now: now).record(event)
    }
}
