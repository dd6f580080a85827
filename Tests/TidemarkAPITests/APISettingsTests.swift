import Foundation
import Testing
import Tidemark
import TidemarkAPI
import TidemarkCore
import TidemarkTesting

/// The `api` section: CRON_SECRET from the environment or its file, the body limit, TLS, and
/// a non-loopback address refused without TLS (a configuration error: exit 3).
@Suite("Admin API settings")
struct APISettingsTests {
    func configuration(_ api: String) throws -> (Configuration, Scratch) {
        let scratch = try Scratch()
        let json = """
        {"repositories": [{"name": "local", "type": "posix", "path": "\(scratch.path)/repo"}],
         "encryptionKey": "unit-test-key-unit-test-key-0123456789", "api": \(api)}
        """
        let file = try scratch.write("tidemark.json", Array(json.utf8))
        chmod(file, 0o600)
        return (try ConfigurationLoader.load(configPath: file, stanza: nil, environment: [:]), scratch)
    }

    @Test func nonLoopbackNeedsTLS() async throws {
        let (plain, _) = try configuration("{}")
        let refused = await expectError(.configuration) { _ = try APISettings.resolve(plain, environment: [:], listenHost: "0.0.0.0") }
        #expect(refused?.message.contains("without TLS") == true)
        #expect(try APISettings.resolve(plain, environment: [:], listenHost: "127.0.0.1").tls == nil)
        #expect(try APISettings.resolve(plain, environment: [:], listenHost: "::1").maxBodyBytes == 65536)
        let (tls, _) = try configuration(#"{"tls": {"certFile": "/etc/tidemark/tls.crt", "keyFile": "/etc/tidemark/tls.key"}, "maxBodyBytes": 4096}"#)
        let settings = try APISettings.resolve(tls, environment: [:], listenHost: "0.0.0.0")
        #expect(settings.tls?.certFile == "/etc/tidemark/tls.crt" && settings.maxBodyBytes == 4096)
        let (half, _) = try configuration(#"{"tls": {"certFile": "/etc/tidemark/tls.crt"}}"#)
        _ = await expectError(.configuration) { _ = try APISettings.resolve(half, environment: [:], listenHost: "127.0.0.1") }
        let (tiny, _) = try configuration(#"{"maxBodyBytes": 10}"#)
        _ = await expectError(.configuration) { _ = try APISettings.resolve(tiny, environment: [:], listenHost: "127.0.0.1") }
    }

    @Test func cronSecretFromTheEnvironmentOrItsFile() async throws {
        let scratch = try Scratch()
        let file = try scratch.write("cron.secret", Array("file-secret-0123456789abcdef\n".utf8))
        chmod(file, 0o600)
        let (c, _) = try configuration(#"{"cronSecretFile": "\#(file)"}"#)
        #expect(try APISettings.resolve(c, environment: [:], listenHost: "127.0.0.1").cronSecret?.bytes == Array("file-secret-0123456789abcdef".utf8))
        let env = try APISettings.resolve(c, environment: ["CRON_SECRET": "env-secret-0123456789abcdef"], listenHost: "127.0.0.1")
        #expect(env.cronSecret?.bytes == Array("env-secret-0123456789abcdef".utf8), "the environment wins")
        _ = await expectError(.configuration) { _ = try APISettings.resolve(c, environment: ["CRON_SECRET": "short"], listenHost: "127.0.0.1") }
        chmod(file, 0o644)
        _ = await expectError(.configuration) { _ = try APISettings.resolve(c, environment: [:], listenHost: "127.0.0.1") }
    }
}
