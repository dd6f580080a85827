#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore
import TidemarkSystem

/// How one run of a job ended, with what the notification and the state need.
public struct JobResult: Sendable, Equatable {
    public enum Outcome: String, Sendable, Codable {
        case succeeded, failed, timedOut, cancelled
        /// Another job held this host's job lock until the deadline.
        case busy
    }
    public var job: String
    public var outcome: Outcome
    public var exitCode: Int32?
    /// The command's ERROR line (without the `tidemark <command>: ERROR:` prefix), or why it did not run.
    public var error: String?
    public var hints: [String] = []
    public var scheduledFor: Date
    public var started: Date
    public var finished: Date
    public var late: Bool
    /// The command's last stdout lines (the backup's "backup … complete" line, the report's summary).
    public var output: String = ""
    /// The backup id a backup job made.
    public var backupID: String?
    /// A rehearsal's measured RTO.
    public var rehearsalRTOSeconds: Double?

    public var duration: Double { finished.timeIntervalSince(started) }
}

/// Runs a job as a child `tidemark` process in its own process group, so that a job that hangs
/// in a blocking call is still stopped on time (SIGTERM, then SIGKILL after `grace`) and a crash
/// cannot take the service down. The child takes the repository's stanza lock itself; the
/// runner holds this host's job lock (`<state>/<stanza>.job.lock`) around it, so `serve` and
/// `run-job` never run two jobs of one stanza at once.
public struct JobRunner: Sendable {
    public var executable: String
    /// Global options every child gets (`--config FILE`, `--stanza NAME`).
    public var globalArguments: [String]
    public var environment: [String: String]
    public var stateDirectory: String
    public var stanza: String
    public var temporaryDirectory: String
    /// How long a job asked to stop (SIGTERM) has before it is killed.
    public var grace: Duration = .seconds(30)

    public init(executable: String, globalArguments: [String], environment: [String: String], stateDirectory: String,
                stanza: String, temporaryDirectory: String) {
        self.executable = executable
        self.globalArguments = globalArguments
        self.environment = environment
        self.stateDirectory = stateDirectory
        self.stanza = stanza
        self.temporaryDirectory = temporaryDirectory
    }

    var jobLockPath: String { stateDirectory + "/" + stanza + ".job.lock" }

    /// Runs `arguments` for `job` until it ends, `deadline` passes or `stop` is raised.
    /// `onStart` gets the child's pid (the state records it as running). With `files`, a
    /// database backup that succeeded is followed, under the same lock and time limit, by the
    /// file backup that records it (`includeFiles`): the job succeeds only when both do.
    public func run(job: String, arguments: [String], scheduledFor: Date, late: Bool, deadline: ContinuousClock.Instant,
                    stop: StopFlag, now: @Sendable () -> Date = { Date() }, files: FilesFollowUp? = nil,
                    onStart: @Sendable (Int32) async -> Void = { _ in }) async -> JobResult {
        let started = now()
        var result = JobResult(job: job, outcome: .failed, scheduledFor: scheduledFor, started: started, finished: started, late: late)
        let lock = LocalLock(path: jobLockPath)
        defer { lock.release() }
        do {
            guard try await lock.acquire(until: deadline) else {
                result.outcome = .busy
                result.error = "another job of stanza '\(stanza)' ran on this host until this job's time limit"
                result.hints = ["tidemark schedule shows what ran; raise the job's timeoutMinutes or move one of them"]
                result.finished = now()
                return result
            }
        } catch {
            result.error = Self.describe(error)
            result.finished = now()
            return result
        }
        let stdout = await runChild(arguments, into: &result, deadline: deadline, stop: stop, now: now, onStart: onStart)
        result.backupID = Self.backupID(in: stdout)
        result.rehearsalRTOSeconds = Self.rehearsalRTO(in: stdout)
        if let files, result.outcome == .succeeded {
            await runFiles(files, into: &result, deadline: deadline, stop: stop, now: now, onStart: onStart)
        }
        return result
    }

    /// One child process, its ending, ERROR and HINT lines written into `result`; returns its stdout.
    func runChild(_ arguments: [String], into result: inout JobResult, deadline: ContinuousClock.Instant, stop: StopFlag,
                  now: @Sendable () -> Date, onStart: @Sendable (Int32) async -> Void) async -> String {
        let process: SpawnedProcess
        do {
            var env = environment
            env["TIDEMARK_JOB"] = result.job
            process = try SpawnedProcess(spawning: Subprocess(
                executable: executable, arguments: globalArguments + arguments, environment: env,
                timeout: .seconds(86400 * 7), temporaryDirectory: temporaryDirectory, outputPrefix: "tidemark-job"))
        } catch {
            result.outcome = .failed
            result.error = Self.describe(error)
            result.hints = ["check that '\(executable)' is the tidemark binary and runs for this user"]
            result.finished = now()
            return ""
        }
        let box = ProcessBox(process)
        await onStart(process.pid)
        let ending = await box.waitOrStop(deadline: deadline, stop: stop, grace: grace)
        let (out, err) = process.output()
        process.removeOutputFiles()
        result.finished = now()
        let stderr = String(decoding: err, as: UTF8.self)
        let stdout = String(decoding: out, as: UTF8.self)
        let (error, hints) = Self.errorLines(stderr)
        result.output = Self.tail(stdout, lines: 20)
        result.hints = hints
        result.error = nil
        switch ending {
        case .exited(let status):
            result.exitCode = status.signal == nil ? status.exitCode : nil
            if status.exitCode == 0 && status.signal == nil {
                result.outcome = .succeeded
            } else {
                result.outcome = .failed
                result.error = error ?? (status.signal.map { "the job's process died of signal \($0)" }
                    ?? "the job exited with status \(status.exitCode)" + (Self.lastLine(stderr).map { ": \($0)" } ?? ""))
            }
        case .timedOut:
            result.outcome = .timedOut
            result.error = "the job passed its time limit and was stopped" + (error.map { " (\($0))" } ?? "")
            result.hints = ["raise the job's timeoutMinutes if it needs longer, or find out why it is slow (the service log has its output)"] + hints
        case .stopped:
            result.outcome = .cancelled
            result.error = "the service stopped while the job ran; the job was asked to stop and ended cleanly"
            result.hints = ["it runs again at its next time (or within schedule.catchUpHours of the service's start)"]
        }
        return stdout
    }

    static func describe(_ error: any Error) -> String {
        (error as? TidemarkError)?.message ?? "\(error)"
    }

    /// The ERROR line and HINT lines of a failed command's stderr (docs/exit-codes.md).
    package static func errorLines(_ stderr: String) -> (String?, [String]) {
        var error: String?
        var hints: [String] = []
        for line in stderr.split(separator: "\n") {
            if error == nil, let r = line.range(of: ": ERROR: ") {
                error = String(line[r.upperBound...])
            } else if line.hasPrefix("HINT: ") {
                hints.append(String(line.dropFirst(6)))
            }
        }
        return (error, hints)
    }

    static func lastLine(_ text: String) -> String? {
        text.split(separator: "\n").last.map { String($0.prefix(500)) }
    }

    static func tail(_ text: String, lines: Int) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// "backup 20261201-030000I (incremental, parent …) complete: …" → the id.
    static func backupID(in stdout: String) -> String? {
        for line in stdout.split(separator: "\n") where line.hasPrefix("backup ") && line.contains(" complete") {
            let words = line.split(separator: " ")
            if words.count > 1 { return String(words[1]) }
        }
        return nil
    }

    /// `rehearse --json`: rto.totalSeconds.
    static func rehearsalRTO(in stdout: String) -> Double? {
        struct Report: Decodable {
            struct RTO: Decodable { var totalSeconds: Double }
            var rto: RTO
        }
        guard let start = stdout.firstIndex(of: "{"),
              let report = try? JSONDecoder().decode(Report.self, from: Data(stdout[start...].utf8)) else { return nil }
        return report.rto.totalSeconds
    }
}

/// Raised when the service shuts down: a running job is asked to stop.
public final class StopFlag: Sendable {
    private let box = LockedBox(false)
    public init() {}
    public var isRaised: Bool { box.value }
    public func raise() { box.mutate { $0 = true } }
}

/// The child process, polled from one task at a time.
private final class ProcessBox: @unchecked Sendable {
    enum Ending { case exited(ExitStatus), timedOut, stopped }
    let process: SpawnedProcess
    init(_ process: SpawnedProcess) { self.process = process }

    /// Polls until the process ends. At the deadline or when `stop` is raised (or the task is
    /// cancelled) it sends SIGTERM to the process group, waits up to `grace`, then kills it.
    func waitOrStop(deadline: ContinuousClock.Instant, stop: StopFlag, grace: Duration) async -> Ending {
        var interval = Duration.milliseconds(20)
        while true {
            if let status = process.poll() { return .exited(status) }
            let stopping = stop.isRaised || Task.isCancelled
            if stopping || ContinuousClock.now >= deadline {
                await terminate(grace: grace)
                return stopping ? .stopped : .timedOut
            }
            try? await Task.sleep(for: min(interval, max(.milliseconds(1), deadline - ContinuousClock.now)))
            interval = min(interval * 2, .milliseconds(500))
        }
    }

    /// SIGTERM to the group; SIGKILL after `grace`. Runs in a task of its own so that a
    /// cancelled caller still waits for the child to be gone.
    private func terminate(grace: Duration) async {
        let process = self.process
        kill(-process.pid, SIGTERM)
        kill(process.pid, SIGTERM)
        let box = self
        await Task {
            let until = ContinuousClock.now + grace
            while ContinuousClock.now < until {
                if box.process.poll() != nil { return }
                try? await Task.sleep(for: .milliseconds(100))
            }
            _ = box.process.killGroupAndReap()
        }.value
    }
}
