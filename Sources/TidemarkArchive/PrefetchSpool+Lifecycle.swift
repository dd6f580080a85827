#if canImport(Glibc)
import Glibc
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository

/// Where the spool lives and when it goes (docs/wal-fetch-prefetch.md, "Where the spool lives"
/// and "Clean-up"). Spooled segments are decrypted WAL: they live inside the data directory
/// being recovered, which already holds the same data under the same owner and mode, and they
/// are removed as soon as recovery no longer needs them.
extension PrefetchSpool {
    /// The spool's name inside the data directory. BASE_BACKUP (and pg_rewind) skip every entry
    /// whose name starts with `pgsql_tmp` (PostgreSQL's `PG_TEMP_FILE_PREFIX`, checked before
    /// any other exclusion in basebackup.c's `sendDir`), so a backup of the restored cluster
    /// never copies it; the server itself never reads it (it is not in `pg_wal`), and startup
    /// only cleans `pgsql_tmp` directories under `base/` and tablespaces, not this one.
    public static let directoryName = "pgsql_tmp.tidemark-spool"

    /// `<data directory>/pgsql_tmp.tidemark-spool`.
    public static func defaultPath(dataDirectory: String) -> String {
        let trimmed = dataDirectory.count > 1 && dataDirectory.hasSuffix("/") ? String(dataDirectory.dropLast()) : dataDirectory
        return trimmed + "/" + directoryName
    }

    /// Where Tidemark 0.x before this change put the spool:
    /// `<temp dir>/tidemark-spool-<uid>-<stanza>-<16 hex digits of SHA-256(data directory)>`.
    /// Only `check` and tests look there now.
    public static func legacyPath(stanza: String, dataDirectory: String, tempDirectory: String, uid: UInt32 = geteuid()) -> String {
        let digest = hexString(sha256Digest(Array(dataDirectory.utf8))).prefix(16)
        let temp = tempDirectory.hasSuffix("/") && tempDirectory.count > 1 ? String(tempDirectory.dropLast()) : tempDirectory
        return "\(temp)/\(legacyPrefix)\(uid)-\(stanza)-\(digest)"
    }

    package static let legacyPrefix = "tidemark-spool-"

    /// True when `directory` holds `global/pg_control` (wal-fetch runs in the data directory
    /// when PostgreSQL calls it; anywhere else there is no recovery to prefetch for).
    public static func isDataDirectory(_ directory: String) -> Bool {
        var st = stat()
        return stat(directory + "/global/pg_control", &st) == 0 && st.st_mode & S_IFMT == S_IFREG
    }

    /// The state in `<dataDirectory>/global/pg_control`, nil when it cannot be read.
    public static func clusterState(dataDirectory: String) -> ClusterState? {
        let fd = open(dataDirectory + "/global/pg_control", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: 20)
        let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 20, 0) }
        guard n == 20 else { return nil }
        return ClusterState(pgControl: head)
    }

    /// Deletes everything the spool holds and the directory itself. Only regular files are
    /// deleted (a spool only ever holds those); anything else keeps the directory, which is
    /// then reported (false). Call it holding the lock, or when no prefetcher runs.
    @discardableResult
    public func removeAll() -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0 else { return true }
        guard st.st_mode & S_IFMT == S_IFDIR, st.st_uid == geteuid() || geteuid() == 0 else { return false }
        var clean = true
        for entry in (try? FileIO.listDirectory(path)) ?? [] {
            if entry.isRegular {
                if unlink(file(entry.name)) != 0 && errno != ENOENT { clean = false }
            } else {
                clean = false
            }
        }
        return clean && (rmdir(path) == 0 || errno == ENOENT)
    }

    /// Removes the spool of a server that is stopped (rehearse's teardown), then waits up to
    /// `seconds` for a prefetcher that still runs to end: it notices within a few milliseconds
    /// that its spool is gone (no request left) and exits. A file it renames in meanwhile is
    /// caught by a few more passes. True when nothing is left.
    @discardableResult
    public func removeWhenIdle(waitingUpTo seconds: Double = 15) -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0 else { return true }
        // The lock file stays open across its removal, to see when its holder lets go.
        let fd = open(file("lock"), O_RDWR | O_CLOEXEC)
        defer { if fd >= 0 { close(fd) } }
        var removed = false
        for _ in 0..<10 {
            if removeAll() {
                removed = true
                break
            }
            usleep(100_000)
        }
        if fd >= 0 {
            let deadline = monotonicSeconds() + seconds
            while flock(fd, LOCK_EX | LOCK_NB) != 0, monotonicSeconds() < deadline { usleep(20_000) }
        }
        return removed && (lstat(path, &st) != 0 || removeAll())
    }

    /// What `check` reports: a spool not in use (no prefetcher holds its lock) whose data
    /// directory is not recovering, or one left in the temp directory by an older Tidemark.
    public struct Stale: Sendable, Equatable {
        public var path: String
        /// Why it is stale.
        public var reason: String
    }

    /// The stale spools among: `<tempDirectory>/tidemark-spool-*` (older versions), the spool
    /// of `dataDirectory` (when given and readable) and the configured one.
    public static func staleSpools(tempDirectory: String, dataDirectory: String?, configured: String?) -> [Stale] {
        var found: [Stale] = []
        let temp = tempDirectory.hasSuffix("/") && tempDirectory.count > 1 ? String(tempDirectory.dropLast()) : tempDirectory
        for entry in ((try? FileIO.listDirectory(temp)) ?? []).sorted(by: { $0.name < $1.name })
        where entry.name.hasPrefix(legacyPrefix) && entry.isDirectory {
            found.append(Stale(path: temp + "/" + entry.name,
                               reason: "left in \(temp) by an older Tidemark, which kept spools until deleted"))
        }
        var candidates: [(String, String?)] = []
        if let dataDirectory { candidates.append((defaultPath(dataDirectory: dataDirectory), dataDirectory)) }
        if let configured, !candidates.contains(where: { $0.0 == configured }) { candidates.append((configured, dataDirectory)) }
        for (path, directory) in candidates {
            var st = stat()
            guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { continue }
            let spool = PrefetchSpool(path: path, capacity: 0)
            if spool.prefetcherRunning() { continue }
            let state = directory.flatMap { clusterState(dataDirectory: $0) }
            if let state, state.mayRecover { continue }
            found.append(Stale(path: path, reason: state.map { "its data directory is \($0), not in recovery" }
                               ?? "no prefetcher uses it"))
        }
        return found
    }
}
