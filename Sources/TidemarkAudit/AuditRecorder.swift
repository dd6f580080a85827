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

/// Records events in the audit log of every repository given and in the local mirror, best
/// effort: a failure never throws, it becomes the one warning line `record` returns (the
/// command's own outcome and output stay as they are; docs/audit.md).
public struct AuditRecorder: Sendable {
    public var logs: [(name: String, log: AuditLog)]
    public var mirror: AuditMirror?
    /// Repositories that could not be opened, with why: they count as failed appends.
    public var unavailable: [(name: String, error: String)]
    public let now: @Sendable () -> Date

    public init(logs: [(name: String, log: AuditLog)], mirror: AuditMirror?, unavailable: [(name: String, error: String)] = [],
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.logs = logs
        self.mirror = mirror
        self.unavailable = unavailable
        self.now = now
    }

    /// Appends `event` everywhere; nil when every append succeeded, else one line saying which
    /// failed and why.
    @discardableResult
    public func record(_ event: AuditEvent) async -> String? {
        let time = AuditTime.format(now())
        var failures = unavailable.map { "repository '\($0.name)': \($0.error)" }
        var lines: [AuditMirror.Line] = []
        for (name, log) in logs {
            do {
                let hint = mirror?.lastHead(repository: name)
                let entry = try await log.append(event, time: time, hint: hint)
                lines.append(AuditMirror.Line(repository: name, entry: entry))
            } catch {
                failures.append("repository '\(name)': \(Self.message(error))")
            }
        }
        if let mirror, !lines.isEmpty {
            let appended = lines
            do {
                try await BlockingPool.shared.run("append to the audit mirror") { try mirror.append(appended) }
            } catch {
                failures.append("mirror: \(Self.message(error))")
            }
        }
        guard !failures.isEmpty else { return nil }
        return "tidemark: WARNING: audit log not written (\(event.action)): " + failures.joined(separator: "; ")
    }

    static func message(_ error: any Error) -> String {
        (error as? TidemarkError)?.message ?? "\(error)"
    }
}

/// Entry times: RFC 3339 in UTC with milliseconds (`2026-12-02T16:46:37.123Z`), so that they
/// sort as text.
public enum AuditTime {
    public static func format(_ date: Date) -> String {
        let millis = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = millis / 1000
        var fraction = millis % 1000
        if fraction < 0 { fraction += 1000; seconds -= 1 }
        let whole = PostgresTimestamp(unixSeconds: seconds).iso8601   // `…:SSZ`
        let digits = String(fraction)
        return whole.dropLast() + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    /// The entry-time text of `text` (an instant as `PostgresTimestamp` reads it, or a span
    /// back from `now`: `90m`, `24h`, `7d`), for comparing with entry times.
    public static func since(_ text: String, now: Date) throws -> String {
        if let unit = text.last, let n = Double(text.dropLast()), n >= 0, let scale = ["m": 60.0, "h": 3600.0, "d": 86_400.0][unit] {
            return format(now.addingTimeInterval(-n * scale))
        }
        do {
            let t = try PostgresTimestamp(parsing: text)
            return format(Date(timeIntervalSince1970: t.unixSeconds))
        } catch {
            throw TidemarkError(.invalidInput, "--since \(error)", hints: ["give an instant (2026-12-01 00:00:00+00, 2026-12-01T00:00:00Z) or a span back from now (90m, 24h, 7d)"])
        }
    }
}

/// Who and where this process is, for the entries it records.
public enum AuditProcess {
    /// The effective OS user; `SUDO_USER` when run through sudo; `token` for an API call.
    public static func actor(environment: [String: String], token: String? = nil) -> AuditActor {
        let user = OSUser.current
        let sudo = environment["SUDO_USER"].flatMap { $0.isEmpty || $0 == user.name ? nil : $0 }
        return AuditActor(user: user.name, uid: user.uid, sudoUser: sudo, token: token)
    }

    /// The host name, the process id, the terminal on standard input (if any) and the SSH
    /// client's address (`SSH_CLIENT`'s first field), or `remote` when given (an API client).
    public static func source(environment: [String: String], remote: String? = nil) -> AuditSource {
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count - 1) == 0
            ? String(decoding: name.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
        let tty = isatty(0) == 1 ? ttyname(0).map { String(cString: $0) } : nil
        let ssh = environment["SSH_CLIENT"].flatMap { $0.split(separator: " ").first.map(String.init) }
        return AuditSource(host: host, pid: getpid(), tty: tty, remote: remote ?? ssh)
    }
}
