import Foundation
import Testing
@testable import Tidemark
import TidemarkCodec
@testable import TidemarkSystem
@testable import TidemarkRepository
@testable import TidemarkArchive
@testable import TidemarkBackup
import TidemarkCore
import TidemarkTesting

@Suite("Configuration resolution")
struct ConfigurationTests {
    func load(_ env: [String: String], config: String? = nil, stanza: String? = nil) throws -> Configuration {
        // An explicit empty TIDEMARK_CONFIG keeps /etc/tidemark out of unit tests unless given.
        try ConfigurationLoader.load(configPath: config, stanza: stanza, environment: env)
    }

    @Test func backupDirAndKeyAreEnough() throws {
        let c = try load(["BACKUP_DIR": "/var/lib/tm", "BACKUP_ENCRYPTION_KEY": "  s3cret\n"])
        #expect(c.stanza == "main")
        #expect(c.repositories == [RepositorySpec(name: "local", type: .posix, path: "/var/lib/tm")])
        #expect(c.encryptionKey?.bytes == Array("s3cret".utf8))
        #expect(c.compression == .lz4)
        #expect(c.ioTimeoutSeconds == 60)
        #expect("\(c.encryptionKey!)" == "<redacted>")
    }

    @Test func keyFileAndPrecedence() throws {
        let dir = try Scratch()
        let keyPath = try dir.write("key", Array("from-file\n".utf8))
        chmod(keyPath, 0o600)
        let c = try load(["BACKUP_DIR": "/r", "BACKUP_ENCRYPTION_KEY_FILE": keyPath])
        #expect(c.encryptionKey?.bytes == Array("from-file".utf8))
        let both = try load(["BACKUP_DIR": "/r", "BACKUP_ENCRYPTION_KEY_FILE": keyPath, "BACKUP_ENCRYPTION_KEY": "from-env"])
        #expect(both.encryptionKey?.bytes == Array("from-env".utf8))
    }

    @Test func aWorldReadableKeyFileIsRefused() async throws {
        let dir = try Scratch()
        let keyPath = try dir.write("key", Array("k".utf8))
        chmod(keyPath, 0o644)
        let error = await expectError(.configuration) { _ = try self.load(["BACKUP_DIR": "/r", "BACKUP_ENCRYPTION_KEY_FILE": keyPath]) }
        #expect(error?.hints.joined().contains("chmod 600") == true)
    }

    @Test func configFileWithEnvironmentOverrides() throws {
        let dir = try Scratch()
        let keyPath = try dir.write("key", Array("k1".utf8))
        chmod(keyPath, 0o600)
        let json = """
        {"stanza": "clinic", "repositories": [{"name": "nas", "type": "posix", "path": "/mnt/nas/tm"}],
         "encryptionKeyFile": "\(keyPath)", "compression": "zstd", "compressionLevel": 5, "ioTimeoutSeconds": 30}
        """
        let file = try dir.write("tidemark.json", Array(json.utf8))
        let c = try load([:], config: file)
        #expect(c.stanza == "clinic")
        #expect(c.repositories.first?.path == "/mnt/nas/tm")
        #expect(c.compression == .zstd && c.compressionLevel == 5 && c.ioTimeoutSeconds == 30)
        #expect(c.encryptionKey?.bytes == Array("k1".utf8))
        let overridden = try load(["BACKUP_DIR": "/elsewhere", "TIDEMARK_STANZA": "other", "TIDEMARK_COMPRESSION": "gzip",
                                   "TIDEMARK_CONFIG": file], stanza: nil)
        #expect(overridden.repositories.first == RepositorySpec(name: "nas", type: .posix, path: "/elsewhere"))
        #expect(overridden.stanza == "other")
        #expect(overridden.compression == .gzip)
        #expect(try load([:], config: file, stanza: "flag").stanza == "flag")
    }

    @Test func clearErrorsForBadConfiguration() async throws {
        let dir = try Scratch()
        await _ = expectError(.configuration) { _ = try self.load([:], config: dir.path + "/missing.json") }
        let bad = try dir.write("bad.json", Array("{ not json".utf8))
        await _ = expectError(.configuration) { _ = try self.load([:], config: bad) }
        let wrongType = try dir.write("type.json", Array(#"{"ioTimeoutSeconds": "soon"}"#.utf8))
        let e = await expectError(.configuration) { _ = try self.load([:], config: wrongType) }
        #expect(e?.message.contains("ioTimeoutSeconds") == true)
        await _ = expectError(.configuration) { _ = try self.load(["BACKUP_DIR": "relative/../x", "TIDEMARK_STANZA": "bad stanza!"]) }
        await _ = expectError(.configuration) { _ = try self.load(["BACKUP_DIR": "/r", "TIDEMARK_COMPRESSION": "brotli"]) }
        await _ = expectError(.configuration) { _ = try self.load(["BACKUP_DIR": "/r", "TIDEMARK_IO_TIMEOUT": "-1"]) }
        let noKey = try self.load(["BACKUP_DIR": "/r"])
        let keyError = await expectError(.configuration) { _ = try noKey.requireKey() }
        #expect(keyError?.hints.joined().contains("BACKUP_ENCRYPTION_KEY") == true)
    }

    @Test func noRepositoryAtAll() async throws {
        // Only meaningful where /etc/tidemark/tidemark.json does not exist (CI and dev machines).
        guard !FileManager.default.fileExists(atPath: Configuration.defaultConfigPath) else { return }
        let e = await expectError(.configuration) { _ = try self.load(["BACKUP_ENCRYPTION_KEY": "k"]) }
        #expect(e?.hints.joined().contains("BACKUP_DIR") == true)
    }

    func loadFile(_ text: String) async -> TidemarkError? {
        let dir = try? Scratch()
        guard let dir, let path = try? dir.write("tidemark.json", Array(text.utf8)) else { return nil }
        return await expectError(.configuration) { _ = try self.load(["BACKUP_ENCRYPTION_KEY": "k"], config: path) }
    }

    @Test func unknownKeysAreErrorsNamingTheNearestKnownOne() async throws {
        let repo = #"{"name": "local", "type": "posix", "path": "/r"}"#
        let cases: [(String, String, String)] = [
            (#"{"repositories": [\#(repo)], "compresion": "zstd"}"#, "compresion", "compression"),
            (#"{"repositorys": [\#(repo)]}"#, "repositorys", "repositories"),
            (#"{"repositories": [{"name": "local", "type": "posix", "pth": "/r"}]}"#, "repositories[0].pth", "path"),
            (#"{"repositories": [{"name": "o", "type": "s3", "s3": {"bucket": "b", "regoin": "x"}}]}"#, "repositories[0].s3.regoin", "region"),
            (#"{"repositories": [\#(repo)], "postgres": {"connifo": "host=x"}}"#, "postgres.connifo", "conninfo"),
        ]
        for (text, key, nearest) in cases {
            let error = await loadFile(text)
            #expect(error?.message.contains("unknown key '\(key)'") == true, "\(error?.message ?? "no error") for \(text)")
            #expect(error?.hints.contains("did you mean '\(nearest)'?") == true, "\(error?.hints ?? [])")
        }
    }

    @Test func invalidJSONNamesTheLineAndColumn() async throws {
        let error = await loadFile("{\n  \"stanza\": \"main\",\n  \"compression\": lz4\n}\n")
        #expect(error?.message.contains("not valid JSON") == true)
        #expect(error?.message.contains("line 3, column 18") == true, "\(error?.message ?? "")")
        let trailing = await loadFile("{\"stanza\": \"main\",}")
        #expect(trailing?.message.contains("line 1, column 19") == true, "\(trailing?.message ?? "")")
    }

    @Test func deepNestingIsNotCalledInvalidJSON() async throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let unknown = await loadFile(#"{"stanza": "main", "extra": \#(deep)}"#)
        #expect(unknown?.message.contains("unknown key 'extra'") == true, "\(unknown?.message ?? "")")
        let known = await loadFile(#"{"stanza": \#(deep)}"#)
        #expect(known?.message.contains("'stanza' must be") == true, "\(known?.message ?? "")")
        #expect(known?.message.contains("not valid JSON") == false)
    }

    /// Every setting of the file is both accepted by the key check and read (a field missing
    /// from CodingKeys is silently never decoded).
    @Test func everySettingIsReadFromTheFile() throws {
        let dir = try Scratch()
        let text = #"{"stanza": "clinic", "repositories": [{"name": "local", "type": "posix", "path": "/r"}], "compression": "zstd", "compressionLevel": 3, "ioTimeoutSeconds": 12, "archiveTimeoutSeconds": 30, "checkpoint": "spread", "prefetchSegments": 4, "spoolPath": "/s", "lockLeaseSeconds": 5, "postgres": {"conninfo": "host=/x"}}"#
        let path = try dir.write("tidemark.json", Array(text.utf8))
        let c = try load(["BACKUP_ENCRYPTION_KEY": "k"], config: path)
        #expect(c.stanza == "clinic" && c.compression == .zstd && c.compressionLevel == 3 && c.ioTimeoutSeconds == 12)
        #expect(c.archiveTimeoutSeconds == 30 && !c.fastCheckpoint && c.prefetchSegments == 4 && c.spoolPath == "/s")
        #expect(c.lockLeaseSeconds == 5 && c.conninfo == "host=/x")
    }

    @Test func theSampleConfigsStillLoad() throws {
        for name in ["tidemark.sample.json", "tidemark.offsite.sample.json"] {
            let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../pg-conf/\(name)").path
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            try ConfigFile.shape.check(bytes)
        }
    }
}
