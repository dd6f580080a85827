/// The resident archiver's decisions (docs/archiver.md), as a pure state machine: events in
/// (a `.ready` file seen, a rescan's complete list, a push started by the driver finished, a
/// client asking about a file, the clock), actions out (start pushing a file, answer a
/// client). No I/O and no clock of its own: `now` is a number of seconds the driver passes.
///
/// The rules it keeps, whatever the order of events:
/// - a client hears `durable` for a file only after a push of that file succeeded (and the
///   driver has not invalidated it since);
/// - at most `workers` pushes are in flight, never two of one file;
/// - a push starts only for the oldest eligible file (history files first, then by name), so
///   nothing is skipped while newer files go ahead;
/// - every client that asks gets exactly one final answer (`durable` or `failed`), possibly
///   after a `pushing`.
public struct ArchiverQueue: Sendable {
    /// What a client hears.
    public enum Answer: Sendable, Equatable {
        /// Every required repository holds a verified copy.
        case durable
        /// A push of the file is on its way; a final answer follows.
        case pushing
        /// The archiver could not make it durable (the client pushes it itself).
        case failed(String)

        public var isFinal: Bool { self != .pushing }
    }

    public enum Action: Sendable, Equatable {
        /// Push this file now (the driver reports `pushSucceeded` or `pushFailed` later).
        case startPush(String)
        /// Tell client `client` about file `name`.
        case answer(client: UInt64, name: String, Answer)
    }

    /// Where a known file stands.
    public enum State: Sendable, Equatable {
        case ready
        case inFlight
        case durable
        /// Failed `attempts` times in a row; eligible again at `retryAt`.
        case failed(attempts: Int, retryAt: Double, reason: String)
    }

    public let workers: Int
    public let retryBaseSeconds: Double
    public let retryMaxSeconds: Double
    public private(set) var states: [String: State] = [:]
    private var waiters: [String: [UInt64]] = [:]

    public init(workers: Int, retryBaseSeconds: Double = 1, retryMaxSeconds: Double = 60) {
        self.workers = max(1, workers)
        self.retryBaseSeconds = max(0, retryBaseSeconds)
        self.retryMaxSeconds = max(retryBaseSeconds, retryMaxSeconds)
    }

    /// The order files are pushed in: timeline history files first (PostgreSQL's own
    /// archiver does the same, a new timeline needs them), then by name, which for segments
    /// of a timeline is the order they were written.
    public static func precedes(_ a: String, _ b: String) -> Bool {
        let (ha, hb) = (a.hasSuffix(".history"), b.hasSuffix(".history"))
        if ha != hb { return ha }
        return a < b
    }

    public var inFlightCount: Int { states.values.filter { $0 == .inFlight }.count }

    /// Nothing to push, nothing in flight, nobody waiting (the idle clock may run).
    public var isIdle: Bool {
        waiters.isEmpty && !states.values.contains { $0 != .durable }
    }

    /// Files not durable yet (the backlog metric): ready, in flight or failed.
    public var backlog: Int { states.values.filter { $0 != .durable }.count }

    public func state(of name: String) -> State? { states[name] }

    /// The earliest time a failed file becomes eligible again, if any.
    public var nextRetry: Double? {
        states.values.compactMap { if case .failed(_, let at, _) = $0 { return at } else { return nil } }.min()
    }

    /// `.ready` files seen (inotify or a scan): new ones become ready; known ones are left as
    /// they are.
    public mutating func readySeen(_ names: [String], now: Double) -> [Action] {
        for name in names where states[name] == nil { states[name] = .ready }
        return schedule(now: now)
    }

    /// A complete scan of archive_status: `ready` is every `.ready` file there now. A file
    /// that is no longer ready was archived (PostgreSQL marked it `.done`): a durable one is
    /// forgotten, and so is one not yet started — unless a client waits for it or it is in
    /// flight.
    public mutating func rescan(ready: Set<String>, now: Double) -> [Action] {
        for (name, state) in states where !ready.contains(name) && waiters[name] == nil && state != .inFlight {
            states[name] = nil
        }
        return readySeen(ready.sorted(by: Self.precedes), now: now)
    }

    /// A client asks about `name` (a file of the archiver's own pg_wal). Durable: answered at
    /// once. In flight: `pushing`, then the push's outcome. Waiting for a retry after a
    /// failure: `failed` at once (the client pushes it itself, sooner than the backoff).
    /// Otherwise the file is taken as ready, answered `pushing`, and pushed in its turn.
    public mutating func ask(client: UInt64, name: String, now: Double) -> [Action] {
        switch states[name] {
        case .durable?:
            return [.answer(client: client, name: name, .durable)]
        case .failed(_, let retryAt, let reason)? where retryAt > now:
            return [.answer(client: client, name: name, .failed(reason))]
        case .failed?, nil:
            states[name] = .ready
        case .ready?, .inFlight?:
            break
        }
        waiters[name, default: []].append(client)
        return [.answer(client: client, name: name, .pushing)] + schedule(now: now)
    }

    /// A client went away before its final answer.
    public mutating func clientGone(_ client: UInt64) {
        for (name, list) in waiters {
            let kept = list.filter { $0 != client }
            waiters[name] = kept.isEmpty ? nil : kept
        }
    }

    public mutating func pushSucceeded(_ name: String, now: Double) -> [Action] {
        guard states[name] == .inFlight else { return schedule(now: now) }
        states[name] = .durable
        return finish(name, .durable) + schedule(now: now)
    }

    public mutating func pushFailed(_ name: String, reason: String, now: Double) -> [Action] {
        guard states[name] == .inFlight else { return schedule(now: now) }
        let attempts: Int
        if case .failed(let a, _, _)? = lastFailure[name] { attempts = a + 1 } else { attempts = 1 }
        let delay = min(retryMaxSeconds, retryBaseSeconds * Double(1 << min(attempts - 1, 20)))
        let state = State.failed(attempts: attempts, retryAt: now + delay, reason: reason)
        states[name] = state
        lastFailure[name] = state
        return finish(name, .failed(reason)) + schedule(now: now)
    }

    /// The driver's copy of a durable file no longer matches the file (it was replaced): the
    /// file is ready again, and pushed again (an identical copy in the repository is fine).
    public mutating func invalidate(_ name: String, now: Double) -> [Action] {
        guard states[name] == .durable else { return schedule(now: now) }
        states[name] = .ready
        return schedule(now: now)
    }

    /// The clock moved: failed files whose backoff ended become eligible.
    public mutating func tick(now: Double) -> [Action] { schedule(now: now) }

    /// Failures in a row per file, kept across the retry (reset by a success).
    private var lastFailure: [String: State] = [:]

    private mutating func finish(_ name: String, _ answer: Answer) -> [Action] {
        if answer == .durable { lastFailure[name] = nil }
        let list = waiters.removeValue(forKey: name) ?? []
        return list.map { .answer(client: $0, name: name, answer) }
    }

    /// Starts the oldest eligible files while workers are free.
    private mutating func schedule(now: Double) -> [Action] {
        for (name, state) in states {
            if case .failed(_, let at, _) = state, at <= now { states[name] = .ready }
        }
        var free = workers - inFlightCount
        guard free > 0 else { return [] }
        let eligible = states.compactMap { $0.value == .ready ? $0.key : nil }.sorted(by: Self.precedes)
        var actions: [Action] = []
        for name in eligible {
            guard free > 0 else { break }
            states[name] = .inFlight
            actions.append(.startPush(name))
            free -= 1
        }
        return actions
    }
}
