import Foundation
import Testing
import Tidemark
import TidemarkCore
@testable import TidemarkServer

/// The probe's cost on a big repository: runs only when TIDEMARK_PROBE_BENCH_REPO names a
/// repository made by `tidemark-bench-repo` (scripts/bench/lib.sh `bench_repo_generator`) and
/// TIDEMARK_PROBE_BENCH_KEY_FILE its key file. Prints the cold (key unwrapped, repository
/// opened) and warm (the service's steady state: the engine holds it open) probe times.
@Suite("Status probe benchmark")
struct StatusProbeBenchTests {
    static let environment = ProcessInfo.processInfo.environment

    @Test(.enabled(if: environment["TIDEMARK_PROBE_BENCH_REPO"] != nil))
    func probeOnABigRepository() async throws {
        let repo = try #require(Self.environment["TIDEMARK_PROBE_BENCH_REPO"])
        let keyFile = try #require(Self.environment["TIDEMARK_PROBE_BENCH_KEY_FILE"])
        let configuration = try ConfigurationLoader.load(configPath: nil, stanza: "main",
                                                         environment: ["BACKUP_DIR": repo, "BACKUP_ENCRYPTION_KEY_FILE": keyFile])
        let engine = Engine(configuration)
        let probe = StatusProbe(engine: engine)
        var times: [Double] = []
        var snapshot: StatusSnapshot?
        for _ in 0..<4 {
            let start = ContinuousClock.now
            snapshot = await probe.probe(previous: snapshot)
            let elapsed = ContinuousClock.now - start
            times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        let s = try #require(snapshot)
        #expect(s.errors.isEmpty, "\(s.errors)")
        let segments = s.repositories.first?.timelines.first?.newestSegment ?? "?"
        print("status probe: cold \(String(format: "%.2f", times[0])) s, warm \(times.dropFirst().map { String(format: "%.2f", $0) }.joined(separator: " ")) s; newest \(segments), rpo \(s.rpoSeconds.map { String(Int($0)) } ?? "?") s")
    }
}
