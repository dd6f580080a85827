import Foundation
import Testing
import Tidemark
import TidemarkCore
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkRepository

@Suite("Weak keys at init and check")
struct KeyEngineTests {
    func configuration(key: String, in scratch: Scratch) throws -> Configuration {
        var c = try ConfigurationLoader.load(configPath: nil, stanza: nil,
                                             environment: ["BACKUP_DIR": scratch.path + "/repo", "BACKUP_ENCRYPTION_KEY": key])
        c.conninfo = "host=127.0.0.1 port=1 connect_timeout=2"
        return c
    }

    @Test(arguments: ["your-super-secret-encryption-key-here", "changeme", "password12345678"])
    func initRefusesAWeakKeyAndWritesNothing(key: String) async throws {
        let scratch = try Scratch()
        let error = await expectError(.configuration) { _ = try await Engine(configuration(key: key, in: scratch)).initialize(parameters: fastKDF) }
        #expect(error?.hints.contains { $0.contains("head -c 32 /dev/urandom | base64 > /etc/tidemark/key && chmod 600 /etc/tidemark/key") } == true)
        #expect(error.map { !"\($0.message)\($0.hints)".contains(key) } == true, "the key is never in the error")
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/repo"), "nothing is created")
    }

    @Test func checkWarnsAboutAnExistingWeakKey() async throws {
        let scratch = try Scratch()
        let weak = "changeme"
        let c = try configuration(key: weak, in: scratch)
        // A repository made before the rule (the library does not judge keys).
        try FileManager.default.createDirectory(atPath: scratch.path + "/repo", withIntermediateDirectories: true)
        _ = try await Repository.initialize(store: FileSystemStore(root: scratch.path + "/repo"), passphrase: Secret(Array(weak.utf8)), parameters: fastKDF)
        let results = try await Engine(c).check()
        let warning = try #require(results.first { $0.name == "key" })
        #expect(warning.status == .warning && warning.message.contains("shorter than 16"), "\(warning)")
        #expect(warning.hint?.contains("tidemark key change") == true)
        #expect(results.contains { $0.name == "repository" && $0.status == .ok }, "a weak key is a warning, not a failure: \(results)")

        let strong = try configuration(key: "a long passphrase nobody guesses", in: Scratch())
        #expect(try await Engine(strong).check().contains { $0.name == "key" } == false)
    }
}
