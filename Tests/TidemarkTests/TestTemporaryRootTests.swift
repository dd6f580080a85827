import Foundation
import Testing
@testable import TidemarkTesting
import TidemarkCodec
import TidemarkCore

/// The test support's temporary files all live under one root per test process, which the
/// next test process removes when its owner is gone (killed, crashed), so a failed run does not
/// leave scratch clusters, copied binaries or output files in /tmp.
@Suite("test support: one temporary root per test process, swept when its process is gone")
struct TestTemporaryRootTests {
    @Test func scratchDirectoriesAndChildOutputLiveUnderTheRoot() async throws {
        let root = TestTemporaryRoot.path
        #expect(root.hasPrefix(FileManager.default.temporaryDirectory.path + "/tmt-"))
        #expect(FileManager.default.fileExists(atPath: root + "/.owner"))
        let scratch = try ScratchDirectory(prefix: "tm-root-check")
        #expect(scratch.path.hasPrefix(root + "/tm-root-check-"))
        // While a child runs, its output files are in the root, and nowhere else.
        let child = try ChildProcess(launching: Command("/bin/sh", ["-c", "sleep 0.2"]))
        let outputs = try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.hasPrefix("tidemark-testing-") }
        #expect(!outputs.isEmpty)
        _ = try await child.wait()
    }

    @Test func rootsOfProcessesThatAreGoneAreRemovedAndLiveOnesKept() throws {
        let base = TestTemporaryRoot.path + "/sweep-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        func makeRoot(_ name: String) throws -> String {
            let root = base + "/tmt-" + name
            try FileManager.default.createDirectory(atPath: root + "/tidemark-pg-x/data", withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: root + "/.owner", contents: nil))
            return root
        }
        let gone = try makeRoot("gone")         // its process died: nobody holds .owner
        let alive = try makeRoot("alive")       // held, as by a running test process
        let fd = open(alive + "/.owner", O_RDWR | O_CLOEXEC)
        #expect(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
        defer { close(fd) }
        let other = base + "/unrelated"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)

        TestTemporaryRoot.removeAbandoned(in: base)
        #expect(!FileManager.default.fileExists(atPath: gone))
        #expect(FileManager.default.fileExists(atPath: alive + "/tidemark-pg-x/data"))
        #expect(FileManager.default.fileExists(atPath: other))
    }
}
