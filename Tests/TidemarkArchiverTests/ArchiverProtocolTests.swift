import Foundation
import Testing
import Tidemark
@testable import TidemarkArchiver
import TidemarkCore

/// The socket's messages, the settings and their defaults, the identity digest.
@Suite("ArchiverProtocol")
struct ArchiverProtocolTests {
    @Test func messagesAreOneLineEachAndDecodeBack() throws {
        let greeting = ArchiverProtocol.Greeting(salt: String(repeating: "ab", count: 32))
        let request = ArchiverProtocol.Request(ask: "000000010000000000000003", path: "/data/pg_wal/000000010000000000000003",
                                               identity: String(repeating: "0f", count: 32))
        let replies = [ArchiverProtocol.Reply(.durable, notices: ["NOTICE: x"]), .init(.pushing), .init(.failed, reason: "a\nb")]
        for line in [ArchiverProtocol.encode(greeting), ArchiverProtocol.encode(request)] + replies.map({ ArchiverProtocol.encode($0) }) {
            #expect(line.last == 10)
            #expect(line.dropLast().allSatisfy { $0 != 10 }, "one line: \(String(decoding: line, as: UTF8.self))")
        }
        #expect(ArchiverProtocol.decode(ArchiverProtocol.Greeting.self, Array(ArchiverProtocol.encode(greeting).dropLast())) == greeting)
        #expect(ArchiverProtocol.decode(ArchiverProtocol.Request.self, Array(ArchiverProtocol.encode(request).dropLast())) == request)
        for reply in replies {
            #expect(ArchiverProtocol.decode(ArchiverProtocol.Reply.self, Array(ArchiverProtocol.encode(reply).dropLast())) == reply)
        }
        #expect(String(decoding: ArchiverProtocol.encode(replies[1]), as: UTF8.self) == "{\"state\":\"pushing\"}\n")
    }

    @Test func anythingElseIsNotAnAnswer() {
        #expect(ArchiverProtocol.decode(ArchiverProtocol.Reply.self, Array("{\"state\":\"maybe\"}".utf8)) == nil)
        #expect(ArchiverProtocol.decode(ArchiverProtocol.Reply.self, Array("durable".utf8)) == nil)
        #expect(ArchiverProtocol.decode(ArchiverProtocol.Reply.self, Array(repeating: 32, count: ArchiverProtocol.maxLineBytes + 1)) == nil)
    }

    @Test func settingsDefaultsAndSocketPath() throws {
        let s = try ArchiverSettings.resolve(nil, stanza: "main", dataDirectory: "/var/lib/postgresql/15/main/", uid: 110)
        #expect(s.enabled == false)
        #expect(s.autostart == true)
        #expect(s.workers == max(2, ProcessInfo.processInfo.activeProcessorCount))
        #expect(s.answerMilliseconds == 2000)
        #expect(s.idleMinutes == 10)
        #expect(s.rescanSeconds == 10)
        #expect(s.socketPath == "/var/lib/postgresql/15/main/pgsql_tmp.tidemark-archiver.main/socket")
        #expect(s.lockPath == "/var/lib/postgresql/15/main/pgsql_tmp.tidemark-archiver.main/lock")
        // Too long for sun_path: a short path under the temp directory instead.
        let deep = "/" + String(repeating: "d", count: 100)
        let fallback = try ArchiverSettings.resolve(nil, stanza: "main", dataDirectory: deep, tempDirectory: "/tmp", uid: 110)
        #expect(fallback.socketPath.hasPrefix("/tmp/tidemark-archiver-110-"))
        #expect(fallback.socketPath.hasSuffix("/socket"))
        #expect(fallback.socketPath.utf8.count < 108)
    }

    @Test func settingsOutOfRangeNameTheKey() throws {
        func fails(_ edit: (inout ArchiverSection) -> Void, _ key: String) {
            var section = ArchiverSection()
            edit(&section)
            do {
                _ = try ArchiverSettings.resolve(section, stanza: "main", dataDirectory: "/data")
                Issue.record("\(key) accepted")
            } catch let e as TidemarkError {
                #expect(e.code == .configuration)
                #expect(e.message.contains(key), "\(e.message)")
            } catch { Issue.record("\(error)") }
        }
        fails({ $0.workers = 0 }, "archiver.workers")
        fails({ $0.answerMilliseconds = 1 }, "archiver.answerMilliseconds")
        fails({ $0.idleMinutes = -1 }, "archiver.idleMinutes")
        fails({ $0.rescanSeconds = 0 }, "archiver.rescanSeconds")
        fails({ $0.socketPath = "relative/socket" }, "archiver.socketPath")
        fails({ $0.socketPath = "/" + String(repeating: "s", count: 120) }, "archiver.socketPath")
        var section = ArchiverSection()
        section.workers = 3
        section.autostart = false
        section.socketPath = "/run/tidemark/a.sock"
        let s = try ArchiverSettings.resolve(section, stanza: "main", dataDirectory: "/data")
        #expect(s.workers == 3 && !s.autostart && s.socketPath == "/run/tidemark/a.sock" && s.directory == "/run/tidemark")
    }

    @Test func theEnvironmentTurnsAutostartOffOrOn() throws {
        func autostart(_ value: String?) throws -> Bool {
            var env = ["BACKUP_DIR": "/srv/repo", "BACKUP_ENCRYPTION_KEY": "a passphrase of some length"]
            env["TIDEMARK_ARCHIVER_AUTOSTART"] = value
            let c = try ConfigurationLoader.load(configPath: nil, stanza: "main", environment: env)
            return try ArchiverSettings.resolve(c.service.archiver, stanza: "main", dataDirectory: "/data").autostart
        }
        #expect(try autostart(nil) == true)
        #expect(try autostart("0") == false)
        #expect(try autostart("off") == false)
        #expect(try autostart("1") == true)
        #expect(throws: TidemarkError.self) { try autostart("maybe") }
    }

    static func configuration(key: String, dir: String = "/srv/repo", stanza: String = "main") throws -> Configuration {
        try ConfigurationLoader.load(configPath: nil, stanza: stanza,
                                     environment: ["BACKUP_DIR": dir, "BACKUP_ENCRYPTION_KEY": key])
    }

    @Test func theIdentityDiffersForAnotherKeyRepositoryStanzaOrSalt() throws {
        let salt = Array(repeating: UInt8(7), count: 32)
        let base = try #require(ArchiverIdentity.digest(salt: salt, configuration: try Self.configuration(key: "k1")))
        #expect(ArchiverIdentity.digest(salt: salt, configuration: try Self.configuration(key: "k1")) == base)
        #expect(ArchiverIdentity.digest(salt: salt, configuration: try Self.configuration(key: "k2")) != base)
        #expect(ArchiverIdentity.digest(salt: salt, configuration: try Self.configuration(key: "k1", dir: "/srv/other")) != base)
        #expect(ArchiverIdentity.digest(salt: salt, configuration: try Self.configuration(key: "k1", stanza: "other")) != base)
        #expect(ArchiverIdentity.digest(salt: Array(repeating: 8, count: 32), configuration: try Self.configuration(key: "k1")) != base)
        #expect(ArchiverIdentity.matches(base, base))
        #expect(!ArchiverIdentity.matches(base, Array(base.dropLast())))
        #expect(ArchiverIdentity.unhex(ArchiverIdentity.hex(base)) == base)
        #expect(ArchiverIdentity.unhex("0g") == nil)
    }
}
