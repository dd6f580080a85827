#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TidemarkCore
import TidemarkSystem
import TidemarkTesting

/// The one subprocess implementation (engine and tests): exit status, signals, output, the
/// child's environment and directory, closed descriptors, timeouts.
@Suite("subprocess: spawn, signal, exit status, output")
struct SubprocessTests {
    private func subprocess(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                            currentDirectory: String? = nil, timeout: Duration = .seconds(30),
                            outputPrefix: String = "tm-subprocess-test") -> Subprocess {
        Subprocess(executable: executable, arguments: arguments, environment: environment, currentDirectory: currentDirectory,
                   timeout: timeout, temporaryDirectory: TestTemporaryRoot.path, outputPrefix: outputPrefix)
    }

    @Test func exitCodeAndBothOutputsAreReportedAndTheOutputFilesRemoved() async throws {
        let prefix = "tm-subprocess-\(UUID().uuidString)"
        let result = try await subprocess("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"], outputPrefix: prefix).run()
        #expect(result.exitCode == 3)
        #expect(result.signal == nil)
        #expect(!result.timedOut && !result.succeeded)
        #expect(result.stdout == "out\n")
        #expect(result.stderr == "err\n")
        let left = try FileManager.default.contentsOfDirectory(atPath: TestTemporaryRoot.path).filter { $0.hasPrefix(prefix) }
        #expect(left.isEmpty, "output files left behind: \(left)")
    }

    @Test func aLaunchedProcessCanBeSignalledAndReportsTheSignal() async throws {
        let process = try subprocess("/bin/sleep", ["30"]).launch()
        #expect(process.pid > 0)
        #expect(process.poll() == nil, "still running")
        process.send(SIGTERM)
        let status = try await process.wait(until: .now + .seconds(10), polling: .milliseconds(1)...(.milliseconds(10)))
        #expect(status == ExitStatus(exitCode: 128 + SIGTERM, signal: SIGTERM))
    }

    @Test func aProcessPastItsTimeoutIsKilledWithItsGroup() async throws {
        let started = ContinuousClock.now
        let result = try await subprocess("/bin/sh", ["-c", "sleep 30 & sleep 30"], timeout: .milliseconds(300)).run()
        #expect(result.timedOut)
        #expect(result.signal == SIGKILL)
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func theEnvironmentIsExactlyTheOneGivenAndTheDirectoryIsSet() async throws {
        let env = try await subprocess("/usr/bin/env", [], environment: ["A": "1", "B": "two words"]).run()
        #expect(env.stdout.split(separator: "\n").sorted() == ["A=1", "B=two words"])
        let directory = try ScratchDirectory(prefix: "tm-subprocess-cwd")
        let pwd = try await subprocess("/bin/pwd", [], currentDirectory: directory.path).run()
        #expect(pwd.output == directory.path)
    }

    @Test func descriptorsAboveTwoAreClosedInTheChild() async throws {
        let path = TestTemporaryRoot.path + "/tm-subprocess-fd-\(UUID().uuidString)"
        let fd = open(path, O_CREAT | O_WRONLY, 0o600)  // no O_CLOEXEC: inherited unless closed
        #expect(fd > 2)
        defer {
            close(fd)
            unlink(path)
        }
        let result = try await subprocess("/bin/sh", ["-c", "if [ -e /proc/self/fd/\(fd) ]; then echo open; else echo closed; fi"]).run()
        #expect(result.output == "closed")
    }

    @Test func aProgramThatCannotStartIsAClearError() async throws {
        do {
            _ = try subprocess("/nonexistent/tool", []).launch()
            Issue.record("a missing program started")
        } catch let error as TidemarkError {
            #expect(error.code == .io)
            #expect(error.message == "unable to start '/nonexistent/tool': No such file or directory")
        }
    }
}
