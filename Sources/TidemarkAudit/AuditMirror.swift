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

/// The local copy of what this user appended: a JSON-lines file (0600, its directory 0700),
/// one line per entry, `{"entry":{…},"repository":"<name>"}` in canonical form, appended with
/// O_APPEND and fsynced. It survives a repository whose newest entries were removed, and
/// caches the last head this process saw (so an append need not list the log).
public struct AuditMirror: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    /// `$XDG_STATE_HOME/tidemark/audit/<stanza>.jsonl`, else `<home>/.local/state/…`.
    public static func defaultPath(stanza: String, environment: [String: String], home: String) -> String {
        let state = environment["XDG_STATE_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil }
            ?? (environment["HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? home) + "/.local/state"
        return state + "/tidemark/audit/\(stanza).jsonl"
    }

    /// One line of the mirror.
    public struct Line: Codable, Sendable, Hashable {
        public var repository: String
        public var entry: AuditEntry

        func canonicalBytes() -> [UInt8] {
            var out = Array("{\"entry\":".utf8) + entry.canonicalBytes() + Array(",\"repository\":".utf8)
            CanonicalJSON.writeString(repository, into: &out)
            return out + Array("}\n".utf8)
        }
    }

    /// Appends the lines (one write, so lines of concurrent appenders never interleave) and
    /// fsyncs. Blocking: call it on the blocking pool.
    public func append(_ lines: [Line]) throws {
        guard !lines.isEmpty else { return }
        let directory = FileIO.parent(path)
        do {
            try FileIO.createDirectoryPath(directory)
        } catch {
            throw TidemarkError(.io, "unable to create the audit mirror's directory '\(directory)': \(error.message)",
                                hints: ["the mirror path must be writable by the user running tidemark"])
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw TidemarkError(.io, "unable to open the audit mirror '\(path)': \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var bytes = lines.flatMap { $0.canonicalBytes() }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw TidemarkError(.io, "unable to write the audit mirror '\(path)': \(String(cString: strerror(errno)))") }
            offset += n
        }
        guard fsync(fd) == 0 else { throw TidemarkError(.io, "unable to fsync the audit mirror '\(path)': \(String(cString: strerror(errno)))") }
    }

    /// The newest head of `repository` among the mirror's last 64 KiB (nil when none is
    /// there): a hint for the next append, which checks it against the repository.
    public func lastHead(repository: String) -> AuditLog.Head? {
        guard let size = try? FileIO.size(path), size > 0,
              let tail = try? FileIO.readRange(path, max(0, size - 65_536)..<size) else { return nil }
        var best: AuditLog.Head?
        for piece in tail.split(separator: UInt8(ascii: "\n")) {
            guard let line = try? JSONDecoder().decode(Line.self, from: Data(piece)), line.repository == repository else { continue }
            if line.entry.seq >= (best?.seq ?? 0) { best = AuditLog.Head(seq: line.entry.seq, sha256: line.entry.sha256) }
        }
        return best
    }

    /// Every line of the mirror, with the line numbers of those that do not parse; nil when
    /// the file does not exist.
    public func readAll() throws -> (lines: [Line], unreadable: [Int])? {
        let bytes: [UInt8]?
        do {
            bytes = try FileIO.readAll(path)
        } catch {
            throw TidemarkError(.io, "unable to read the audit mirror '\(path)': \(error.message)")
        }
        guard let bytes else { return nil }
        var lines: [Line] = []
        var unreadable: [Int] = []
        for (i, piece) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() where !piece.isEmpty {
            if let line = try? JSONDecoder().decode(Line.self, from: Data(piece)) { lines.append(line) } else { unreadable.append(i + 1) }
        }
        return (lines, unreadable)
    }
}
