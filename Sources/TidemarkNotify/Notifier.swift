import Logging
import TidemarkCore

/// Delivery: one queue and one worker per channel, so a slow or broken channel delays nobody.
/// `post` returns at once; a job never waits for a notification, nor fails because of one.
///
/// Each channel delivers its notifications in order. A failed send is retried after
/// `backoff(attempt)` up to `maxAttempts` times while the error may pass (`TidemarkError` code
/// `.io`, or an error of another type); a permanent one (a revoked URL, a refused recipient)
/// is not retried. When a notification is given up, one log line names the channel and the
/// reason (never a secret), `failures[channel]` grows by one and `onChannelFailure` is called.
public actor Notifier {
    public typealias Sleep = @Sendable (Duration) async throws -> Void

    /// Notifications given up, per channel name.
    public var failures: [String: Int] { get async { await ledger.failures } }
    /// Notifications delivered, per channel name.
    public var delivered: [String: Int] { get async { await ledger.delivered } }

    private let channels: [any NotificationChannel]
    private let logger: Logger
    private nonisolated let queues: [AsyncStream<Notification>.Continuation]
    private let workers: [Task<Void, Never>]
    private let ledger = Ledger()

    /// The default backoff: 1 s, 2 s, 4 s … at most 60 s before attempt `n + 1`.
    public static let exponentialBackoff: @Sendable (Int) -> Duration = { attempt in
        .seconds(min(60, 1 << min(max(attempt - 1, 0), 6)))
    }

    /// At most this many notifications wait per channel; past it the oldest waiting are dropped
    /// (and logged): a channel down for days must not hold the process's memory.
    public static let queueLimit = 256

    public init(
        channels: [any NotificationChannel], logger: Logger, sleep: @escaping Sleep = { try await Task.sleep(for: $0) },
        backoff: @escaping @Sendable (Int) -> Duration = Notifier.exponentialBackoff, maxAttempts: Int = 5,
        onChannelFailure: (@Sendable (String) -> Void)? = nil
    ) {
        self.channels = channels
        self.logger = logger
        var queues: [AsyncStream<Notification>.Continuation] = []
        var streams: [AsyncStream<Notification>] = []
        for _ in channels {
            let (stream, continuation) = AsyncStream.makeStream(of: Notification.self, bufferingPolicy: .bufferingNewest(Self.queueLimit))
            streams.append(stream)
            queues.append(continuation)
        }
        self.queues = queues
        let ledger = self.ledger
        self.workers = zip(channels, streams).map { channel, stream in
            let worker = Worker(
                channel: channel, logger: logger, sleep: sleep, backoff: backoff, maxAttempts: max(1, maxAttempts),
                onChannelFailure: onChannelFailure, ledger: ledger)
            return Task {
                for await n in stream {
                    if Task.isCancelled { await worker.giveUp(n, attempts: 0, error: CancellationError()) } else { await worker.deliver(n) }
                }
            }
        }
    }

    /// Queues `n` for every channel and returns at once. After `drain` it is dropped.
    public nonisolated func post(_ n: Notification) {
        for (index, queue) in queues.enumerated() {
            if case .dropped(let old) = queue.yield(n) {
                let logger = self.logger
                logger.warning("notification dropped: the channel's queue is full",
                               metadata: ["notify.queue": "\(index)", "notify.title": "\(old.singleLineTitle)"])
            }
        }
    }

    /// Stops taking notifications and waits until every queued one is delivered or given up,
    /// at most `timeout`; then cancels what is left (graceful shutdown).
    public func drain(timeout: Duration) async {
        for queue in queues { queue.finish() }
        let workers = self.workers
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for worker in workers { await worker.value }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            // Awaiting a task's value does not pass cancellation on: cancel the workers
            // themselves, or the group would wait for them.
            if !first { for worker in workers { worker.cancel() } }
            group.cancelAll()
            return first
        }
        if !finished {
            logger.warning("notifications still undelivered at shutdown", metadata: ["notify.timeout": "\(timeout)"])
        }
    }

    /// Sends `n` once through each channel (or only the one named `channel`), now, without
    /// queue or retry, and says how each went: for `tidemark notify test`. A name that matches
    /// no channel gives one failed result naming the configured ones.
    public func sendNow(_ n: Notification, only channel: String? = nil) async -> [ChannelResult] {
        let chosen = channels.filter { channel == nil || $0.name == channel }
        if let channel, chosen.isEmpty {
            let names = channels.map(\.name)
            return [ChannelResult(channel: channel, error: "no channel named '\(channel)' is configured (configured: \(names.isEmpty ? "none" : names.joined(separator: ", ")))", milliseconds: 0)]
        }
        return await withTaskGroup(of: (Int, ChannelResult).self) { group in
            for (index, c) in chosen.enumerated() {
                group.addTask {
                    let clock = ContinuousClock()
                    let start = clock.now
                    var error: String?
                    do { try await c.send(n) } catch let failure { error = Self.reason(failure) }
                    let elapsed = clock.now - start
                    let ms = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
                    return (index, ChannelResult(channel: c.name, error: error, milliseconds: ms))
                }
            }
            var results: [(Int, ChannelResult)] = []
            for await r in group { results.append(r) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// `.io` errors and errors of other types may pass; other `TidemarkError` codes will not.
    static func mayPass(_ error: any Error) -> Bool {
        guard let error = error as? TidemarkError else { return !(error is CancellationError) }
        return error.code == .io
    }

    /// An error in one line (with its HINTs).
    static func reason(_ error: any Error) -> String {
        if error is CancellationError { return "cancelled: the service is shutting down" }
        let text = (error as? TidemarkError)?.description ?? String(describing: error)
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

extension Notifier {
    /// The counters the workers keep.
    actor Ledger {
        var failures: [String: Int] = [:]
        var delivered: [String: Int] = [:]
        func record(_ channel: String, delivered ok: Bool) {
            if ok { delivered[channel, default: 0] += 1 } else { failures[channel, default: 0] += 1 }
        }
    }

    /// One channel's delivery loop: send, retry what may pass, give up with one log line.
    struct Worker: Sendable {
        let channel: any NotificationChannel
        let logger: Logger
        let sleep: Sleep
        let backoff: @Sendable (Int) -> Duration
        let maxAttempts: Int
        let onChannelFailure: (@Sendable (String) -> Void)?
        let ledger: Ledger

        func deliver(_ n: Notification) async {
            var attempt = 0
            while true {
                attempt += 1
                do {
                    try await channel.send(n)
                    await ledger.record(channel.name, delivered: true)
                    return
                } catch {
                    if !Notifier.mayPass(error) || attempt >= maxAttempts || Task.isCancelled {
                        await giveUp(n, attempts: attempt, error: error)
                        return
                    }
                    logger.debug("notification not delivered, retrying", metadata: [
                        "notify.channel": "\(channel.name)", "notify.attempt": "\(attempt)", "notify.reason": "\(Notifier.reason(error))",
                    ])
                    do {
                        try await sleep(backoff(attempt))
                    } catch {
                        await giveUp(n, attempts: attempt, error: CancellationError())
                        return
                    }
                }
            }
        }

        func giveUp(_ n: Notification, attempts: Int, error: any Error) async {
            await ledger.record(channel.name, delivered: false)
            logger.error("notification not delivered", metadata: [
                "notify.channel": "\(channel.name)", "notify.attempts": "\(attempts)", "notify.kind": "\(n.kind.rawValue)",
                "notify.reason": "\(Notifier.reason(error))",
            ])
            onChannelFailure?(channel.name)
        }
    }
}
