import Foundation
import TidemarkSystem

/// One dedicated OS thread that runs a connection's libpq work, job after job, so that blocking
/// calls (`poll`, `PQconnectPoll`'s DNS look-up, `PQcancel`, waiting out backpressure) never park
/// a thread of Swift's cooperative pool, which has only one thread per core.
///
/// Contract: jobs run in submission order, one at a time. `stop()` lets already-submitted jobs
/// run (so every continuation they hold is resumed) and then ends the thread; `submit` after
/// `stop()` returns false and does not run the job.
final class LibPQThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var stopped = false

    init(name: String) {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    /// Queues `job`; false when the thread has been stopped.
    @discardableResult
    func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    /// Ends the thread once the queued jobs have run. Idempotent; does not wait.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
