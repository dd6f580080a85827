#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository

/// What a restored cluster needs to fetch WAL by itself: a configuration file of its own
/// (`<data directory>/tidemark.restore.json`, mode 0600) naming every repository, the key file
/// and the S3 secret files — secrets only by file reference, never inline — and the
/// restore_command that reads it. The server starts with an environment of its own (systemd,
/// pg_ctl from another shell), so nothing may depend on the variables of the shell that ran
/// `tidemark restore`. `Engine.restore` proves the command before it writes any data.
public struct RestoredServerConfiguration: Sendable {
    public static let fileName = "tidemark.restore.json"

    /// `<data directory>/tidemark.restore.json`.
    public var path: String
    public var bytes: [UInt8]
    public var executable: String
    public var stanza: String

    /// The restore_command (`%f`, `%p` placeholders), reading every repository or only one.
    public func restoreCommand(onlyFrom repository: String? = nil) -> String {
        var words = [RecoveryConfig.shellWord(executable), "--config", RecoveryConfig.shellWord(path),
                     "--stanza", RecoveryConfig.shellWord(stanza), "wal-fetch"]
        if let repository { words += ["--repo", RecoveryConfig.shellWord(repository)] }
        return (words + ["\"%f\"", "\"%p\""]).joined(separator: " ")
    }

    package init(path: String, bytes: [UInt8], executable: String, stanza: String) {
        self.path = path
        self.bytes = bytes
        self.executable = executable
        self.stanza = stanza
    }

    /// Writes the file (0600, temporary name, fsync, rename).
    package func write() throws {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw TidemarkError(.io, "unable to create '\(temporary)': \(String(cString: strerror(errno)))") }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let e = errno
                close(fd)
                unlink(temporary)
                throw TidemarkError(.io, "unable to write '\(temporary)': \(String(cString: strerror(e)))")
            }
            done += n
        }
        fchmod(fd, 0o600)
        fsync(fd)
        close(fd)
        guard rename(temporary, path) == 0 else {
            let e = errno
            unlink(temporary)
            throw TidemarkError(.io, "unable to create '\(path)': \(String(cString: strerror(e)))")
        }
    }

    /// Runs `command` as PostgreSQL will: through `/bin/sh -c`, in the data directory, with an
    /// environment of its own (only PATH, and no prefetching, so the proof leaves no spool),
    /// as `user` (the server user) — fetching `segment` into a private scratch file that is
    /// removed afterwards (it is plaintext WAL). Throws when the command fails or the file it
    /// wrote is not the whole segment.
    package static func prove(command: String, segment: String, dataDirectory: String, user: OSUser?, timeout: Duration,
                      temporaryDirectory: String) async throws {
        let scratch = temporaryDirectory + "/tidemark-proof-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        guard mkdir(scratch, 0o700) == 0 else {
            throw TidemarkError(.io, "unable to create '\(scratch)': \(String(cString: strerror(errno)))")
        }
        defer { try? FileIO.removeTree(scratch) }
        if let user, geteuid() == 0 { _ = chown(scratch, user.uid, user.gid) }
        let destination = scratch + "/RECOVERYXLOG"
        // PostgreSQL replaces %f and %p (and %r, %%) before handing the line to the shell.
        var line = ""
        var i = command.startIndex
        while i < command.endIndex {
            let c = command[i]
            let next = command.index(after: i)
            if c == "%", next < command.endIndex {
                switch command[next] {
                case "f": line += segment
                case "p": line += destination
                case "r": line += "000000010000000000000001"
                case "%": line += "%"
                default: line += "%" + String(command[next])
                }
                i = command.index(after: next)
            } else {
                line.append(c)
                i = next
            }
        }
        let process = Subprocess(executable: "/bin/sh", arguments: ["-c", "cd " + RecoveryConfig.shellWord(dataDirectory) + " && " + line],
                                 environment: ["PATH": "/usr/local/bin:/usr/bin:/bin", "TIDEMARK_PREFETCH": "0"],
                                 user: user, timeout: timeout, temporaryDirectory: scratch)
        let result = try await process.run()
        let why: String?
        if result.timedOut {
            why = "it did not finish within \(timeout)"
        } else if result.exitCode != 0 {
            let stderr = result.stderr.split(separator: "\n").filter { !$0.isEmpty }.suffix(3).joined(separator: " / ")
            why = "it exited \(result.exitCode)" + (stderr.isEmpty ? "" : ": \(stderr)")
        } else {
            var st = stat()
            why = stat(destination, &st) == 0 && st.st_size > 0 ? nil : "it exited 0 but wrote no segment"
        }
        if let why {
            let who = user.map { " as \($0.name)" } ?? ""
            throw TidemarkError(.configuration,
                                "the restore_command written for the restored server cannot fetch \(segment), the first segment recovery needs: \(why)",
                                hints: ["it ran\(who) through /bin/sh in \(dataDirectory) with only PATH set, as the server will run it: \(command)",
                                        "the restored server gets its settings from \(RestoredServerConfiguration.fileName) in the data directory: every file it names (key, S3 secret, CA bundle) must be readable by the server user",
                                        "nothing was restored; the target is as it was"])
        }
    }
}
