#if canImport(Glibc)
import Glibc
#endif
import CTidemarkUnix
import TidemarkConfiguration
import TidemarkCore
import TidemarkSystem

/// The resident archiver's settings (docs/archiver.md, "Configuration"): the file's `archiver`
/// section with its defaults, and the socket's place for one data directory and stanza.
public struct ArchiverSettings: Sendable, Equatable {
    /// `tidemark serve` runs the archiver in its service group.
    public var enabled: Bool
    /// A `wal-push` that finds no archiver starts one, detached.
    public var autostart: Bool
    /// Pushes at once.
    public var workers: Int
    /// How long `wal-push` waits for the archiver's first answer.
    public var answerMilliseconds: Int
    /// Minutes without work before the archiver exits (0: never).
    public var idleMinutes: Double
    /// Seconds between two full scans of archive_status (inotify does the rest).
    public var rescanSeconds: Double
    /// The socket; its directory is the archiver's own (0700), with the lock file beside it.
    public var socketPath: String

    /// The default number of workers: the cores, at least 2.
    public static var defaultWorkers: Int { max(2, BlockingPool.processorCount) }

    /// Name of the default socket directory inside the data directory: `pgsql_tmp` first, so
    /// BASE_BACKUP and pg_rewind skip it, as they skip wal-fetch's spool.
    public static func directoryName(stanza: String) -> String { "pgsql_tmp.tidemark-archiver.\(stanza)" }

    /// Resolves `section` (nil: every default) for the archiver of `dataDirectory`.
    /// Errors name the key and the accepted range.
    public static func resolve(_ section: ArchiverSection?, stanza: String, dataDirectory: String,
                               tempDirectory: String = "/tmp", uid: UInt32 = geteuid()) throws -> ArchiverSettings {
        let s = section ?? ArchiverSection()
        let workers = s.workers ?? defaultWorkers
        guard (1...64).contains(workers) else {
            throw TidemarkError(.configuration, "archiver.workers \(workers) is out of range", hints: ["use 1 to 64 (default: the number of cores, at least 2)"])
        }
        let answer = s.answerMilliseconds ?? 2000
        guard (10...600_000).contains(answer) else {
            throw TidemarkError(.configuration, "archiver.answerMilliseconds \(answer) is out of range", hints: ["use 10 to 600000 (default 2000)"])
        }
        let idle = s.idleMinutes ?? 10
        guard idle >= 0, idle <= 525_600, idle.isFinite else {
            throw TidemarkError(.configuration, "archiver.idleMinutes \(idle) is out of range", hints: ["use 0 (never exit) to 525600 minutes (default 10)"])
        }
        let rescan = s.rescanSeconds ?? 10
        guard rescan >= 0.1, rescan <= 3600 else {
            throw TidemarkError(.configuration, "archiver.rescanSeconds \(rescan) is out of range", hints: ["use 0.1 to 3600 seconds (default 10)"])
        }
        let socket: String
        if let configured = s.socketPath, !configured.isEmpty {
            guard configured.hasPrefix("/") else {
                throw TidemarkError(.configuration, "archiver.socketPath '\(configured)' is not absolute", hints: ["give an absolute path; its directory must be the archiver's own (it is made 0700)"])
            }
            guard configured.utf8.count <= tidemark_unix_path_max() else {
                throw TidemarkError(.configuration, "archiver.socketPath '\(configured)' is \(configured.utf8.count) bytes, longer than a Unix socket path may be (\(tidemark_unix_path_max()))",
                                    hints: ["choose a shorter path, or leave archiver.socketPath out (the default falls back to a short path under \(tempDirectory))"])
            }
            socket = configured
        } else {
            socket = defaultSocketPath(stanza: stanza, dataDirectory: dataDirectory, tempDirectory: tempDirectory, uid: uid)
        }
        return ArchiverSettings(enabled: s.enabled ?? false, autostart: s.autostart ?? true, workers: workers,
                                answerMilliseconds: answer, idleMinutes: idle, rescanSeconds: rescan, socketPath: socket)
    }

    /// `<data directory>/pgsql_tmp.tidemark-archiver.<stanza>/socket`; when that does not fit a
    /// socket address (108 bytes), `<temp>/tidemark-archiver-<uid>-<16 hex digits of
    /// SHA-256(data directory, stanza)>/socket`.
    public static func defaultSocketPath(stanza: String, dataDirectory: String, tempDirectory: String, uid: UInt32) -> String {
        let data = dataDirectory.count > 1 && dataDirectory.hasSuffix("/") ? String(dataDirectory.dropLast()) : dataDirectory
        let inside = "\(data)/\(directoryName(stanza: stanza))/socket"
        if inside.utf8.count <= tidemark_unix_path_max() { return inside }
        let digest = ArchiverIdentity.hex(ArchiverIdentity.sha256(Array("\(data)\u{0}\(stanza)".utf8))).prefix(16)
        let temp = tempDirectory.count > 1 && tempDirectory.hasSuffix("/") ? String(tempDirectory.dropLast()) : tempDirectory
        return "\(temp)/tidemark-archiver-\(uid)-\(digest)/socket"
    }

    /// The socket's directory (0700, the archiver's own).
    public var directory: String { FileIO.parent(socketPath) }
    /// The lock file a running archiver holds (a second one refuses to start).
    public var lockPath: String { directory + "/lock" }
}
