import Crypto
import TidemarkCodec
import TidemarkCore
import TidemarkSystem

/// Who acted: the OS user (and who they were before `sudo`), or an API token's name.
public struct AuditActor: Codable, Sendable, Hashable {
    public var user: String
    public var uid: UInt32
    public var sudoUser: String?
    public var token: String?

    public init(user: String, uid: UInt32, sudoUser: String? = nil, token: String? = nil) {
        self.user = user
        self.uid = uid
        self.sudoUser = sudoUser
        self.token = token
    }
}

/// Where from: the host and process, the terminal, the remote address (SSH, an API client).
public struct AuditSource: Codable, Sendable, Hashable {
    public var host: String
    public var pid: Int32
    public var tty: String?
    public var remote: String?

    public init(host: String, pid: Int32, tty: String? = nil, remote: String? = nil) {
        self.host = host
        self.pid = pid
        self.tty = tty
        self.remote = remote
    }
}

/// What happened, before it has a place in a chain (no `seq`, no `prev`).
public struct AuditEvent: Sendable, Hashable {
    /// `backup`, `restore`, `plan`, `wal-fetch-session`, `expire`, `delete`, `pin`, `unpin`,
    /// `key-change`, `key-add`, `key-remove`, `verify`, `rehearse`, `api`, `job`…
    public var action: String
    public var actor: AuditActor
    public var source: AuditSource
    /// What it acted on: `stanza` always, then e.g. `backup`, `targetTime`, `repository`.
    public var target: [String: String]
    public var detail: [String: String]
    public var success: Bool
    public var exitCode: Int32?
    /// The error's message (never its cause chain or anything secret), at most 1,000 bytes.
    public var error: String?

    public init(action: String, actor: AuditActor, source: AuditSource, target: [String: String], detail: [String: String] = [:],
                success: Bool, exitCode: Int32? = nil, error: String? = nil) {
        self.action = action
        self.actor = actor
        self.source = source
        self.target = target
        self.detail = detail
        self.success = success
        self.exitCode = exitCode
        self.error = error.map { String(decoding: Array($0.utf8.prefix(1000)), as: UTF8.self) }
    }
}

/// One entry of the audit log (docs/audit.md). Its identity is its canonical JSON
/// (`canonicalBytes`): sorted keys, no spaces, absent optionals left out; `prev` is the
/// SHA-256 of the previous entry's canonical bytes (64 zeros for seq 1).
public struct AuditEntry: Codable, Sendable, Hashable {
    public var seq: UInt64
    /// RFC 3339, UTC, milliseconds: `2026-12-02T16:46:37.123Z`.
    public var time: String
    public var action: String
    public var actor: AuditActor
    public var source: AuditSource
    public var target: [String: String]
    public var detail: [String: String]
    /// `success` or `failure`.
    public var outcome: String
    public var exitCode: Int32?
    public var error: String?
    public var prev: String

    public static let genesis = String(repeating: "0", count: 64)

    public init(seq: UInt64, time: String, event: AuditEvent, prev: String) {
        self.seq = seq
        self.time = time
        action = event.action
        actor = event.actor
        source = event.source
        target = event.target
        detail = event.detail
        outcome = event.success ? "success" : "failure"
        exitCode = event.exitCode
        error = event.error
        self.prev = prev
    }

    public var stanza: String? { target["stanza"] }

    /// The bytes that are stored, hashed and mirrored.
    public func canonicalBytes() -> [UInt8] {
        var fields: [String: CanonicalJSON] = [
            "seq": .number(String(seq)), "time": .string(time), "action": .string(action),
            "actor": .object(actor.canonical), "source": .object(source.canonical),
            "target": .strings(target), "detail": .strings(detail), "outcome": .string(outcome), "prev": .string(prev),
        ]
        if let exitCode { fields["exitCode"] = .number(String(exitCode)) }
        if let error { fields["error"] = .string(error) }
        var out: [UInt8] = []
        CanonicalJSON.object(fields).write(into: &out)
        return out
    }

    /// SHA-256 of `canonicalBytes()`, hex: what the next entry's `prev` holds.
    public var sha256: String { AuditEntry.sha256(of: canonicalBytes()) }

    public static func sha256(of bytes: [UInt8]) -> String { hexString(Array(SHA256.hash(data: bytes))) }
}

extension AuditActor {
    var canonical: [String: CanonicalJSON] {
        var f: [String: CanonicalJSON] = ["user": .string(user), "uid": .number(String(uid))]
        if let sudoUser { f["sudoUser"] = .string(sudoUser) }
        if let token { f["token"] = .string(token) }
        return f
    }
}

extension AuditSource {
    var canonical: [String: CanonicalJSON] {
        var f: [String: CanonicalJSON] = ["host": .string(host), "pid": .number(String(pid))]
        if let tty { f["tty"] = .string(tty) }
        if let remote { f["remote"] = .string(remote) }
        return f
    }
}

/// The few JSON shapes an entry has, written one way only: keys sorted by their UTF-8
/// bytes, no whitespace, strings with `"`, `\` and control characters escaped and everything
/// else as UTF-8. Written here rather than by JSONEncoder so the bytes (and so the hashes)
/// never depend on a Foundation version.
enum CanonicalJSON {
    case string(String)
    /// Digits (and a leading `-`), already formatted.
    case number(String)
    case object([String: CanonicalJSON])

    static func strings(_ d: [String: String]) -> CanonicalJSON { .object(d.mapValues { .string($0) }) }

    func write(into out: inout [UInt8]) {
        switch self {
        case .string(let s): Self.writeString(s, into: &out)
        case .number(let n): out += n.utf8
        case .object(let fields):
            out.append(UInt8(ascii: "{"))
            for (i, key) in fields.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                fields[key]?.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += Array("\\\"".utf8)
            case UInt8(ascii: "\\"): out += Array("\\\\".utf8)
            case UInt8(ascii: "\n"): out += Array("\\n".utf8)
            case UInt8(ascii: "\t"): out += Array("\\t".utf8)
            case UInt8(ascii: "\r"): out += Array("\\r".utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += Array("\\u00".utf8) + [hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
