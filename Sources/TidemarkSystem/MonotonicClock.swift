#if canImport(Glibc)
import Glibc
#endif

// CLOCK_MONOTONIC: for deadlines and idle timers that must not jump with the wall clock.

/// CLOCK_MONOTONIC in nanoseconds.
package func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// `seconds` from now on CLOCK_MONOTONIC, in nanoseconds (negative or NaN counts as now; huge
/// values saturate).
package func monotonicNanoseconds(after seconds: Double) -> UInt64 {
    let now = monotonicNanoseconds()
    guard seconds > 0 else { return now }
    let delta = seconds * 1e9
    guard delta < Double(UInt64.max - now) else { return UInt64.max }
    return now + UInt64(delta)
}

/// CLOCK_MONOTONIC in seconds.
public func monotonicSeconds() -> Double {
    Double(monotonicNanoseconds()) / 1e9
}
