/// Failed authentication attempts per client, in a sliding window (the admin API: 10 a minute,
/// then 429 with Retry-After). Pure: the clock is an input.
public struct FailedAttemptLimiter: Sendable, Equatable {
    public var limit: Int
    public var window: Double
    /// Times of recent failures, by client.
    public private(set) var failures: [String: [Double]] = [:]

    public init(limit: Int = 10, window: Double = 60) {
        self.limit = limit
        self.window = window
    }

    /// Seconds `client` must wait before it may try again, or nil when it may try now.
    public mutating func retryAfter(_ client: String, now: Double) -> Double? {
        prune(client, now: now)
        guard let times = failures[client], times.count >= limit, let oldest = times.first else { return nil }
        return max(1, (oldest + window - now).rounded(.up))
    }

    /// Counts a failed attempt; returns true when this one reached the limit.
    @discardableResult
    public mutating func recordFailure(_ client: String, now: Double) -> Bool {
        prune(client, now: now)
        failures[client, default: []].append(now)
        if failures.count > 10_000 { failures = failures.filter { !($0.value.last.map { now - $0 >= window } ?? true) } }
        return failures[client]?.count == limit
    }

    mutating func prune(_ client: String, now: Double) {
        guard var times = failures[client] else { return }
        times.removeAll { now - $0 >= window }
        failures[client] = times.isEmpty ? nil : times
    }
}
