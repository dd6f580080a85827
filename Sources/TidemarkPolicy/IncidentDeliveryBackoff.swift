import Foundation

/// How long the notifier waits before trying a failed delivery again, and when it gives up.
/// Pure: the jitter comes in as a number, so a test (or a hash of the message id) decides it.
///
/// Delays after the 1st, 2nd, … failed attempt: 1 s, 5 s, 30 s, 2 min, then 10 min each
/// (the cap), each shortened by up to `jitter` of itself (never lengthened, so the cap holds).
/// After `maxAttempts` failed attempts there is no further delay: give up (the notifier logs
/// it and counts it in a metric; a job never waits for it).
public struct DeliveryBackoff: Sendable, Equatable, Codable {
    public var delays: [TimeInterval]
    public var maxAttempts: Int
    /// The largest share of a delay the jitter removes (0 ... 1).
    public var jitter: Double

    public static let standard = DeliveryBackoff()

    public init(delays: [TimeInterval] = [1, 5, 30, 120, 600], maxAttempts: Int = 8, jitter: Double = 0.2) {
        self.delays = delays
        self.maxAttempts = maxAttempts
        self.jitter = jitter
    }

    /// The wait after `failedAttempts` attempts have failed (1 = the first try failed), or
    /// nil when it is time to give up. `unit` in [0, 1] picks the jitter (0: the full delay,
    /// 1: the most shortened); values outside are clamped, NaN counts as 0.
    public func delay(afterFailedAttempts failedAttempts: Int, jitter unit: Double) -> TimeInterval? {
        guard failedAttempts < maxAttempts, !delays.isEmpty else { return nil }
        let base = delays[min(max(failedAttempts, 1), delays.count) - 1]
        let u = unit.isNaN ? 0 : min(1, max(0, unit))
        let share = min(1, max(0, jitter.isNaN ? 0 : jitter))
        return max(0, base * (1 - share * u))
    }
}
