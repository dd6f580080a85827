#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore

/// Seconds on CLOCK_MONOTONIC: for deadlines and idle timers that must not jump with the
/// wall clock.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
