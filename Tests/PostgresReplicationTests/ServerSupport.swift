import Crypto
import Foundation
import PostgresReplication
import Testing
import TidemarkCore
import TidemarkTesting

extension PostgresFixture {
    /// A conninfo string for this server's Unix socket.
    func conninfo(user: String = "postgres", extra: String = "") -> String {
        "host=\(Self.quoted(socketDirectory)) port=\(port) user=\(Self.quoted(user)) dbname=postgres" + extra
    }

    /// A conninfo value in single quotes.
    static func quoted(_ value: String) -> String {
        "'" + value.replacing("\\", with: "\\\\").replacing("'", with: "\\'") + "'"
    }

    /// Waits until no WAL sender (so no base backup) is left on the server.
    func waitUntilNoWALSenders(timeout: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let count = try await psql("select count(*) from pg_stat_activity where backend_type = 'walsender'")
            if count == "0" { return }
            guard ContinuousClock.now < deadline else {
                Issue.record("\(count) WAL sender(s) still running after \(timeout)\n\(serverLog())")
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// What a consumer saw of one base backup.
struct RecordedBackup {
    struct File {
        var archive: String
        var path: String
        var size: Int64
        var received: Int64 = 0
        var sha256 = ""
    }

    var events: [String] = []  // a compact trace, for order checks and failure messages
    var start: (LSN, TimelineID)?
    var end: (LSN, TimelineID)?
    var tablespaces: [TablespaceInfo] = []
    var archives: [(name: String, location: String?)] = []
    var files: [File] = []
    var fileContents: [String: [UInt8]] = [:]  // only for small files worth reading
    var symlinks: [String: String] = [:]
    var directories: Set<String> = []
    var manifest: [UInt8]?
    var lastProgress: Int64 = 0
    var fileDataEvents = 0
    var maxBufferedSeen = 0

    /// Manifest-style path: tablespace archives' files live under `pg_tblspc/<oid>/`.
    static func manifestPath(archive: String, path: String) -> String {
        archive == "base.tar" ? path : "pg_tblspc/" + archive.dropLast(".tar".count) + "/" + path
    }
}

/// Consumes `stream` to its end, checking the event grammar as it goes; `afterEvent` runs
/// after each event (a slow consumer sleeps there).
func record(
    _ stream: BaseBackupStream, afterEvent: (BaseBackupEvent) async throws -> Void = { _ in }
) async throws -> RecordedBackup {
    var recorded = RecordedBackup()
    var archive: String?
    var file: RecordedBackup.File?
    var hasher = SHA256()
    var content: [UInt8] = []
    for try await event in stream {
        recorded.maxBufferedSeen = max(recorded.maxBufferedSeen, stream.bufferedBytes)
        switch event {
        case .started(let lsn, let timeline):
            recorded.start = (lsn, timeline)
            recorded.events.append("started")
        case .tablespaces(let list):
            recorded.tablespaces = list
            recorded.events.append("tablespaces")
        case .archiveStarted(let name, let location):
            #expect(archive == nil && file == nil)
            archive = name
            recorded.archives.append((name, location))
            recorded.events.append("archive \(name)")
        case .directory(let path, _):
            #expect(archive != nil && file == nil)
            recorded.directories.insert(path)
        case .symlink(let path, let target):
            #expect(archive != nil && file == nil)
            recorded.symlinks[path] = target
        case .fileStarted(let path, let size, _, _):
            #expect(archive != nil && file == nil)
            file = RecordedBackup.File(archive: archive ?? "?", path: path, size: size)
            hasher = SHA256()
            content = []
            recorded.events.append("file \(path)")
        case .fileData(let bytes):
            recorded.fileDataEvents += 1
            #expect(file != nil)
            file?.received += Int64(bytes.count)
            hasher.update(data: bytes)
            if (file?.size ?? 0) <= 64 * 1024 { content += bytes }
        case .fileEnded:
            guard var finished = file else {
                Issue.record("fileEnded outside a file")
                break
            }
            #expect(finished.received == finished.size, "\(finished.path): \(finished.received) of \(finished.size) bytes")
            finished.sha256 = hasher.finalize().map { String(format: "%02x", $0) }.joined()
            if finished.size <= 64 * 1024 {
                recorded.fileContents[RecordedBackup.manifestPath(archive: finished.archive, path: finished.path)] = content
            }
            recorded.files.append(finished)
            file = nil
        case .archiveEnded:
            #expect(archive != nil && file == nil)
            recorded.events.append("end \(archive ?? "?")")
            archive = nil
        case .progress(let bytes):
            #expect(bytes >= recorded.lastProgress)
            recorded.lastProgress = bytes
        case .manifest(let bytes):
            #expect(archive == nil)
            recorded.manifest = bytes
            recorded.events.append("manifest")
        case .finished(let lsn, let timeline):
            recorded.end = (lsn, timeline)
            recorded.events.append("finished")
        }
        try await afterEvent(event)
    }
    return recorded
}

/// `Files` of a backup manifest: path → (size, checksum algorithm, checksum); and the
/// manifest's own checksum check.
struct ParsedManifest {
    var files: [String: (size: Int64, algorithm: String?, checksum: String?)] = [:]
    var walStart: String?
    var manifestChecksumValid = false

    init(_ bytes: [UInt8]) throws {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let entries = try #require(object["Files"] as? [[String: Any]])
        for entry in entries {
            let path = try #require(entry["Path"] as? String)
            let size = try #require((entry["Size"] as? NSNumber)?.int64Value)
            files[path] = (size, entry["Checksum-Algorithm"] as? String, entry["Checksum"] as? String)
        }
        let ranges = object["WAL-Ranges"] as? [[String: Any]]
        walStart = ranges?.first?["Start-LSN"] as? String
        // Manifest-Checksum: SHA-256 of every byte before the line that holds it.
        let text = String(decoding: bytes, as: UTF8.self)
        if let range = text.range(of: "\"Manifest-Checksum\""),
            let lineStart = text[..<range.lowerBound].lastIndex(of: "\n"),
            let expected = object["Manifest-Checksum"] as? String
        {
            let covered = Array(text[...lineStart].utf8)
            manifestChecksumValid = SHA256.hash(data: covered).map { String(format: "%02x", $0) }.joined() == expected
        }
    }
}
