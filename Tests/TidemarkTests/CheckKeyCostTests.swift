import Foundation
import Testing
@testable import Tidemark
import TidemarkConfiguration
import TidemarkCore
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkRepository

/// `check` warns when every wal-push pays scrypt: a passphrase key with the archiver turned
/// off (docs/check-json.md, `key_cost`). No server here: the connection check fails, the
/// repository checks before it run.
@Suite("check: the per-segment cost of a passphrase without the archiver")
struct CheckKeyCostTests {
    func engine(key: String, archiver: ArchiverSection?, in scratch: Scratch) async throws -> Engine {
        var c = try ConfigurationLoader.load(configPath: nil, stanza: nil,
                                             environment: ["BACKUP_DIR": scratch.path + "/repo", "BACKUP_ENCRYPTION_KEY": key])
        c.conninfo = "host=127.0.0.1 port=1 connect_timeout=2"
        c.service.archiver = archiver
        if !FileManager.default.fileExists(atPath: scratch.path + "/repo") {
            _ = try await Engine(c).initialize(parameters: fastKDF)
        }
        return Engine(c)
    }

    func off() -> ArchiverSection {
        var a = ArchiverSection()
        a.autostart = false
        return a
    }

    @Test func aPassphraseWithTheArchiverOffIsAWarningWithItsCost() async throws {
        let scratch = try Scratch()
        let results = try await engine(key: "a long passphrase nobody guesses", archiver: off(), in: scratch).check()
        let warning = try #require(results.first { $0.name == "key_cost" }, "\(results)")
        #expect(warning.status == .warning)
        #expect(warning.message.contains("passphrase") && warning.message.contains("ms per segment") && warning.message.contains("scrypt"),
                "\(warning.message)")
        #expect(warning.hint?.contains("tidemark key change --new-key-file") == true && warning.hint?.contains("archiver") == true)
        #expect(!warning.message.contains("nobody guesses") && warning.hint?.contains("nobody guesses") == false, "never the key")
        #expect(results.contains { $0.name == "repository" && $0.status == .ok }, "\(results)")
    }

    @Test func noWarningWithTheArchiverOnOrAGeneratedKey() async throws {
        let passphrase = "a long passphrase nobody guesses"
        let scratch = try Scratch()
        // Default: autostart on.
        #expect(try await engine(key: passphrase, archiver: nil, in: scratch).check().contains { $0.name == "key_cost" } == false)
        var served = off()
        served.enabled = true
        #expect(try await engine(key: passphrase, archiver: served, in: scratch).check().contains { $0.name == "key_cost" } == false)
        // A generated key is wrapped with HKDF: nothing to pay, nothing to say.
        let generated = String(repeating: "0123456789abcdef", count: 4)
        #expect(try await engine(key: generated, archiver: off(), in: Scratch()).check().contains { $0.name == "key_cost" } == false)
    }
}
