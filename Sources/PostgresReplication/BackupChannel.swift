import Foundation
import TidemarkSystem

/// The bounded hand-over between a backup's libpq thread (one producer) and one async consumer.
///
/// Contract:
/// - `send` blocks the producer's thread while the queued events' cost (payload bytes plus
///   `eventOverhead` each) would exceed `limit`, so memory stays bounded by `limit` plus one
///   event; it returns false once the channel is cancelled (the producer must then stop).
/// - `next` hands over queued events in order, suspends (without blocking a thread) when there
///   are none, and after the producer's `finish` returns nil or throws its error once (then nil).
/// - `cancel` (also on task cancellation inside `next`) drops the queue, wakes the producer,
///   resumes a waiting consumer with `cancelled` and runs `onCancel` (which interrupts the
///   producer's network wait) when the producer has not finished. Idempotent.
final class BackupChannel: @unchecked Sendable {
    static let eventOverhead = 64

    let limit: Int
    private let onCancel: @Sendable () -> Void
    private let condition = NSCondition()
    // All below guarded by `condition`.
    private var queue: [(event: BaseBackupEvent, cost: Int)] = []
    private var head = 0
    private var queuedBytes = 0
    private var peakBytes = 0
    private var waiter: CheckedContinuation<BaseBackupEvent?, any Error>?
    private var outcome: Result<Void, any Error>?
    private var producerFinished = false
    private var cancelled = false

    init(limit: Int, onCancel: @escaping @Sendable () -> Void) {
        self.limit = max(0, limit)
        self.onCancel = onCancel
    }

    /// Cost of `event` in the buffer bound.
    static func cost(of event: BaseBackupEvent) -> Int {
        switch event {
        case .fileData(let bytes), .manifest(let bytes): return eventOverhead + bytes.count
        case .tablespaces(let list): return eventOverhead * (1 + list.count)
        default: return eventOverhead
        }
    }

    /// The most bytes that were ever queued (a debug counter for tests and metrics).
    var peakBufferedBytes: Int { condition.withLock { peakBytes } }
    /// Bytes queued now.
    var bufferedBytes: Int { condition.withLock { queuedBytes } }
    var isCancelled: Bool { condition.withLock { cancelled } }

    // MARK: Producer (the libpq thread)

    /// Queues `event`, blocking while the buffer is full; false when cancelled.
    func send(_ event: BaseBackupEvent) -> Bool {
        let cost = Self.cost(of: event)
        condition.lock()
        while !cancelled && queuedBytes > 0 && queuedBytes + cost > limit {
            condition.wait()
        }
        if cancelled {
            condition.unlock()
            return false
        }
        if let waiter {
            self.waiter = nil
            condition.unlock()
            waiter.resume(returning: event)
            return true
        }
        queue.append((event, cost))
        queuedBytes += cost
        peakBytes = max(peakBytes, queuedBytes)
        condition.unlock()
        return true
    }

    /// Ends the stream after the queued events, with `error` or normally.
    func finish(_ error: (any Error)?) {
        condition.lock()
        producerFinished = true
        guard !cancelled, outcome == nil else {
            condition.unlock()
            return
        }
        outcome = error.map { .failure($0) } ?? .success(())
        let waiter = self.waiter
        self.waiter = nil
        let result = waiter == nil ? nil : takeOutcome()
        condition.unlock()
        if let waiter, let result { waiter.resume(with: result) }
    }

    // MARK: Consumer

    func next() async throws -> BaseBackupEvent? {
        if Task.isCancelled { cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<BaseBackupEvent?, any Error>) in
                condition.lock()
                var result: Result<BaseBackupEvent?, any Error>?
                if head < queue.count {
                    let (event, cost) = queue[head]
                    head += 1
                    queuedBytes -= cost
                    if head == queue.count {
                        queue.removeAll(keepingCapacity: true)
                        head = 0
                    } else if head >= 1024 && head * 2 >= queue.count {
                        queue.removeFirst(head)
                        head = 0
                    }
                    condition.broadcast()
                    result = .success(event)
                } else if outcome != nil {
                    result = takeOutcome()
                } else if waiter != nil {
                    result = .failure(ReplicationError(.invalidArgument, "BaseBackupStream.next() called concurrently"))
                } else {
                    waiter = continuation
                }
                condition.unlock()
                if let result { continuation.resume(with: result) }
            }
        } onCancel: {
            cancel()
        }
    }

    /// Stops the stream; see the type's contract.
    func cancel() {
        condition.lock()
        let finishedCleanly = producerFinished && head == queue.count
        guard !cancelled, !finishedCleanly else {
            condition.unlock()
            return
        }
        cancelled = true
        queue.removeAll()
        head = 0
        queuedBytes = 0
        if case .failure = outcome {} else { outcome = .failure(ReplicationError.cancelledError) }
        let waiter = self.waiter
        self.waiter = nil
        let result = waiter == nil ? nil : takeOutcome()
        let interruptProducer = !producerFinished
        condition.broadcast()
        condition.unlock()
        if let waiter, let result { waiter.resume(with: result) }
        if interruptProducer { onCancel() }
    }

    /// The end of the stream for the consumer: the error once, then nil. Call under the lock.
    private func takeOutcome() -> Result<BaseBackupEvent?, any Error> {
        switch outcome {
        case .failure(let error)?:
            outcome = .success(())
            return .failure(error)
        default:
            return .success(nil)
        }
    }
}
