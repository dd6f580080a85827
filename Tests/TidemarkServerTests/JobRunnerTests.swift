import Foundation
import Testing
import TidemarkCore
import TidemarkTesting
@testable import TidemarkServer

#if canImport(Glibc)
import Glibc
#endif

/// The job runner with /bin/sh standing in for `tidemark`: exit codes, the ERROR and HINT lines,
/// the time limit (SIGTERM, then SIGKILL), a stop request, the host's job lock.
@Suite("Job runner")
struct JobRunnerTests {
    func runner(_ script: String, in dir: ScratchDirectory) -> JobRunner {
        var r = JobRunner(executable: "/bin/sh", globalArguments: ["-c", script, "sh"], environment: ["PATH": "/usr/bin:/bin"],
                          stateDirectory: dir.child("state"), stanza: "main", temporaryDirectory: dir.path)
        r.grace = .seconds(2)
        return r
    }

    func run(_ r: JobRunner, limit: Duration = .seconds(30), stop: StopFlag = StopFlag()) async -> JobResult {
        await r.run(job: "nightly", arguments: ["backup"], scheduledFor: Date(), late: false,
                    deadline: ContinuousClock.now + limit, stop: stop)
    }

    @Test func successKeepsTheOutputAndTheBackupID() async throws {
        let dir = try ScratchDirectory(prefix: "tidemark-runner")
        let r = await run(runner("echo 'backup 20261202-030000F (full) complete: 1 MiB of data'; exit 0", in: dir))
        #expect(r.outcome == .succeeded)
        #expect(r.exitCode == 0)
        #expect(r.backupID == "20261202-030000F")
        #expect(r.error == nil)
    }

    @Test func aFailureCarriesTheErrorLineTheHintsAndTheCode() async throws {
        let dir = try ScratchDirectory(prefix: "tidemark-runner")
        let script = "echo 'tidemark backup: ERROR: unable to connect to the server' >&2; echo 'HINT: check the server is running' >&2; echo 'HINT: and reachable' >&2; exit 7"
        let r = await run(runner(script, in: dir))
        #expect(r.outcome == .failed)
        #expect(r.exitCode == 7)
        #expect(r.error == "unable to connect to the server")
        #expect(r.hints == ["check the server is running", "and reachable"])
        #expect(RunJob.exitCode(r) == 7)
    }

    @Test func aJobPastItsLimitIsStoppedEvenIfItIgnoresSIGTERM() async throws {
        let dir = try ScratchDirectory(prefix: "tidemark-runner")
        let started = ContinuousClock.now
        let r = await run(runner("trap '' TERM; sleep 60", in: dir), limit: .seconds(1))
        #expect(r.outcome == .timedOut)
        #expect(ContinuousClock.now - started < .seconds(20), "killed after the grace, not after the sleep")
        #expect(RunJob.exitCode(r) == 7)
    }

    @Test func aStopRequestEndsTheJobAsCancelled() async throws {
        let dir = try ScratchDirectory(prefix: "tidemark-runner")
        let stop = StopFlag()
        let marker = dir.child("terminated")
        let runner = runner("trap 'touch \(marker); exit 143' TERM; sleep 60 & wait", in: dir)
        let task = Task { await run(runner, stop: stop) }
        try await Task.sleep(for: .milliseconds(500))
        stop.raise()
        let r = await task.value
        #expect(r.outcome == .cancelled)
        #expect(FileManager.default.fileExists(atPath: marker), "the job got SIGTERM, a chance to clean up")
    }

    @Test func aSecondJobWaitsForTheHostsJobLockAndGivesUpAtItsLimit() async throws {
        let dir = try ScratchDirectory(prefix: "tidemark-runner")
        let slow = runner("sleep 3", in: dir)
        let first = Task { await run(slow) }
        try await Task.sleep(for: .milliseconds(500))
        let busy = await run(runner("exit 0", in: dir), limit: .seconds(1))
        #expect(busy.outcome == .busy)
        #expect(RunJob.exitCode(busy) == 13)
        let waited = await run(runner("exit 0", in: dir), limit: .seconds(20))
        #expect(waited.outcome == .succeeded, "it ran once the first had ended")
        #expect(await first.value.outcome == .succeeded)
    }

    @Test func rehearsalReportsItsRTO() {
        #expect(JobRunner.rehearsalRTO(in: "{\"status\":\"pass\",\"rto\":{\"restoreSeconds\":1,\"replaySeconds\":2,\"totalSeconds\":3.5}}") == 3.5)
        #expect(JobRunner.rehearsalRTO(in: "not json") == nil)
    }
}
