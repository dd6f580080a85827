import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import Tidemark
import TidemarkAPI
import TidemarkCodec
import TidemarkCore
import TidemarkServer
import TidemarkTesting

/// A real repository (posix, initialized), a service context whose jobs run a stand-in for
/// `tidemark` (a shell script: `backup` prints its "complete" line, waits while the file
/// `hold` exists; `plan` prints JSON; `files` writes its arguments to `files-args` and fails
/// while `files-fail` exists), and the API's routes over it. `files`: a `files` section.
final class APIFixture: @unchecked Sendable {
    let scratch: Scratch
    let configuration: Configuration
    let context: ServiceContext
    var holdFile: String { scratch.path + "/hold" }
    var mirror: String { scratch.path + "/audit.jsonl" }

    /// The arguments of the last `verify` job.
    var verifyArguments: String? {
        FileManager.default.contents(atPath: scratch.path + "/verify-args").map { String(decoding: $0, as: UTF8.self) }
    }

    var filesArguments: String? {
        FileManager.default.contents(atPath: scratch.path + "/files-args").map { String(decoding: $0, as: UTF8.self) }
    }

    init(files: Bool = false) async throws {
        scratch = try Scratch()
        let filesSection = files ? #", "files": {"paths": ["\#(scratch.path)/uploads"]}"# : ""
        let json = """
        {"repositories": [{"name": "local", "type": "posix", "path": "\(scratch.path)/repo"}],
         "encryptionKey": "unit-test-key-unit-test-key-0123456789",
         "serve": {"stateDirectory": "\(scratch.path)/state"},
         "audit": {"mirrorPath": "\(scratch.path)/audit.jsonl"},
         "schedule": {"defaults": false}\(filesSection)}
        """
        let file = try scratch.write("tidemark.json", Array(json.utf8))
        chmod(file, 0o600)
        configuration = try ConfigurationLoader.load(configPath: file, stanza: nil, environment: [:])
        _ = try await Engine(configuration).initialize(parameters: ScryptParameters(logN: 10))
        let script = """
        #!/bin/sh
        while [ -f '\(scratch.path)/hold' ]; do sleep 0.05; done
        for a in "$@"; do
          case "$a" in
            files)
              echo "$@" > '\(scratch.path)/files-args'
              if [ -f '\(scratch.path)/files-fail' ]; then
                echo "tidemark files backup: ERROR: unable to read '/srv/uploads': permission denied" >&2
                echo "HINT: run it as a user that can read the files" >&2; exit 3
              fi
              echo "files snapshot 0123abcd (incremental) complete"; exit 0 ;;
            backup) echo "backup 20261201-030000F (full) complete: 1 MiB"; exit 0 ;;
            plan) echo '{"backup":"20261201-030000F","target":"latest"}'; exit 0 ;;
            verify) echo "$@" > '\(scratch.path)/verify-args'; echo "verify: all proven"; exit 0 ;;
          esac
        done
        exit 0
        """
        let path = try scratch.write("fake-tidemark", Array(script.utf8))
        chmod(path, 0o755)
        context = try ServiceAssembly.context(configuration: configuration, environment: ["HOME": scratch.path, "PATH": "/usr/bin:/bin"],
                                              logger: Logger(label: "api-test"), executable: path)
    }

    func token(_ name: String, _ scope: APIToken.Scope) async throws -> String {
        try await TokenRegistry(engine: Engine(configuration)).create(name: name, scope: scope)
    }

    func environment(maxBodyBytes: Int = 65536, cronSecret: String? = nil) -> APIEnvironment {
        APIEnvironment.live(context: context,
                            settings: APISettings(cronSecret: cronSecret.map { Secret(Array($0.utf8)) }, maxBodyBytes: maxBodyBytes),
                            environment: ["HOME": scratch.path], snapshot: { nil })
    }

    func application(_ env: APIEnvironment) -> some ApplicationProtocol {
        let metrics = MetricsHTTPServer(configuration: HTTPListenConfiguration(host: "127.0.0.1", port: 0, token: Secret(Array("metrics-token-0123456789".utf8))),
                                        metrics: ServiceMetrics(stanza: "main"), health: { nil }, logger: Logger(label: "api-test"))
        return Application(router: APIHTTPServer(metrics: metrics, env: env).makeRouter())
    }

    /// The audit mirror's entries (one JSON object a line).
    func auditEntries() throws -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: mirror) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }
}

/// The body as a JSON object.
func object(_ buffer: ByteBuffer) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(String(buffer: buffer).utf8))) as? [String: Any] ?? [:]
}

/// Every error is `{"error", "hint"}` in JSON.
func expectErrorShape(_ response: TestResponse, _ status: HTTPResponse.Status, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(response.status == status, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
    #expect(response.headers[.contentType] == "application/json", sourceLocation: sourceLocation)
    let body = object(response.body)
    #expect(body["error"] is String && body["hint"] is String, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
}

func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer " + token, .contentType: "application/json"] }
