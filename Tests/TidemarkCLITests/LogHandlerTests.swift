import Foundation
import Logging
import Synchronization
import Testing
import TidemarkCore
@testable import tidemark

/// The lines the executable's log handler writes: text and JSON, levels, and no secrets.
@Suite("CLI: log lines")
struct LogHandlerTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
        var sink: LogSink { LogSink { line in self.lines.withLock { $0.append(line) } } }
    }

    func logger(_ format: LogFormat, level: Logger.Level = .warning, into lines: Lines) -> Logger {
        Logger(label: "tidemark.test") { label in
            var handler = LogSettings(level: level, format: format).makeHandler(label: label, sink: lines.sink)
            handler.clock = { "2026-12-02T00:53:17.123Z" }
            return handler
        }
    }

    @Test func aTextLineIsLevelLabelMessageAndSortedMetadata() {
        let lines = Lines()
        var log = logger(.text, into: lines)
        log[metadataKey: "stanza"] = "main"
        log.warning("segment already archived", metadata: ["wal.segment": "000000010000000000000003", "storage.key": "main/wal/a b"])
        #expect(lines.all == [
            "WARNING tidemark.test: segment already archived stanza=main storage.key=\"main/wal/a b\" wal.segment=000000010000000000000003\n",
        ])
    }

    @Test func aTextLineStaysOneLine() {
        let lines = Lines()
        logger(.text, into: lines).error("two\nlines", metadata: ["k": "a\nb"])
        #expect(lines.all == ["ERROR tidemark.test: two\\nlines k=\"a\\nb\"\n"])
    }

    /// Below the level nothing is written: the default (warning) keeps today's stderr.
    @Test func belowTheLevelNothingIsWritten() {
        let lines = Lines()
        let log = logger(.text, into: lines)
        log.trace("t")
        log.debug("d")
        log.info("i")
        log.notice("n")
        #expect(lines.all.isEmpty)
        log.warning("w")
        #expect(lines.all.count == 1)
        let verbose = logger(.json, level: .trace, into: lines)
        verbose.trace("t")
        #expect(lines.all.count == 2)
    }

    @Test func aJSONLineDecodesWithItsFields() throws {
        let lines = Lines()
        var log = logger(.json, level: .debug, into: lines)
        log[metadataKey: "stanza"] = "main"
        struct Failure: Error, CustomStringConvertible { var description: String { "no answer within 3 s" } }
        log.debug("pushed \"segment\"", metadata: [
            "wal.segment": "000000010000000000000003", "bytes": "\(16_777_216)",
            "repositories": ["local", "offsite"], "timing": ["hash.ms": "12"],
        ])
        log.error("push failed", error: Failure())
        #expect(lines.all.count == 2)
        #expect(lines.all.allSatisfy { $0.hasSuffix("}\n") && $0.filter { $0 == "\n" }.count == 1 })
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines.all[0].utf8)) as? [String: Any])
        #expect(Set(first.keys) == ["time", "level", "label", "message", "metadata"])
        #expect(first["time"] as? String == "2026-12-02T00:53:17.123Z")
        #expect(first["level"] as? String == "debug")
        #expect(first["label"] as? String == "tidemark.test")
        #expect(first["message"] as? String == "pushed \"segment\"")
        let metadata = try #require(first["metadata"] as? [String: Any])
        #expect(metadata["stanza"] as? String == "main")
        #expect(metadata["wal.segment"] as? String == "000000010000000000000003")
        #expect(metadata["bytes"] as? String == "16777216")
        #expect(metadata["repositories"] as? [String] == ["local", "offsite"])
        #expect((metadata["timing"] as? [String: Any])?["hash.ms"] as? String == "12")
        let second = try #require(try JSONSerialization.jsonObject(with: Data(lines.all[1].utf8)) as? [String: Any])
        #expect(second["level"] as? String == "error")
        #expect(second["error"] as? String == "no answer within 3 s")
    }

    @Test func controlCharactersAreEscapedInJSON() throws {
        let lines = Lines()
        logger(.json, into: lines).warning("bell\u{7}tab\tquote\"backslash\\", metadata: ["k": "\u{1}"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines.all[0].utf8)) as? [String: Any])
        #expect(object["message"] as? String == "bell\u{7}tab\tquote\"backslash\\")
        #expect((object["metadata"] as? [String: String])?["k"] == "\u{1}")
    }

    /// The real clock's format: RFC 3339 UTC with milliseconds.
    @Test func theTimeIsRFC3339UTC() throws {
        let time = LogTime.now()
        #expect(time.count == 24 && time.hasSuffix("Z"), "\(time)")
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = try #require(formatter.date(from: time), "\(time)")
        #expect(abs(date.timeIntervalSinceNow) < 60)
    }

    static let password = "s3cr3t-Pa55"

    /// Secrets never reach a line, in either format, wherever they hide.
    @Test(arguments: [LogFormat.text, .json])
    func aSecretInMetadataOrTextIsNotPrinted(format: LogFormat) {
        let lines = Lines()
        var log = logger(format, level: .trace, into: lines)
        let p = Self.password
        log[metadataKey: "postgres.password"] = "\(p)"
        log.warning("connecting", metadata: [
            "postgres.conninfo": "host=db port=5432 user=tidemark password=\(p) dbname=postgres",
            "quoted": "host=db password = '\(p) with space' user=x",
            "url": "postgresql://tidemark:\(p)@db:5432/postgres",
            "AWS_SECRET_ACCESS_KEY": "\(p)",
            "s3": ["secretAccessKey": "\(p)", "sessionToken": "\(p)", "bucket": "b"],
            "environment": ["BACKUP_ENCRYPTION_KEY=\(p)", "PGPASSWORD=\(p)"],
            "encryption.key": .stringConvertible(p),
            "json": "{\"password\": \"\(p)\"}",
            "key": .stringConvertible(Secret(Array(p.utf8))),
            "storage.key": "main/wal/000000010000000000000003",
        ])
        log.error("connection to postgresql://u:\(p)@db failed: password=\(p)", error: TidemarkError(.io, "password=\(p)"))
        let text = lines.all.joined()
        #expect(!text.contains(p), "\(text)")
        #expect(!text.contains("with space"), "a quoted value is masked whole: \(text)")
        #expect(text.contains("main/wal/000000010000000000000003"), "an object key is not a secret: \(text)")
        #expect(text.contains("host=db"), "the rest of a conninfo stays: \(text)")
        #expect(text.contains("postgresql://tidemark:<redacted>@db:5432/postgres"), "\(text)")
        #expect(text.contains("\"bucket\""), "\(text)")
    }

    @Test func ordinaryTextIsLeftAlone() {
        for s in ["segment 000000010000000000000003 archived", "storage.key=main/x", "a: b", "https://s3.example.com/bucket",
                  "unable to read 'x': timeout", "token-bucket limiter"] {
            #expect(LogRedaction.scrub(s) == s, "\(s)")
        }
    }
}
