import Foundation
import TidemarkPolicy

/// The scheduler tests' clock: minute `m` is `SchedulerClock.minute(m)`, whole minutes from a
/// fixed instant (itself a whole minute).
enum SchedulerClock {
    static let origin = Date(timeIntervalSince1970: 1_800_000_000)

    static func minute(_ m: Double) -> Date { origin.addingTimeInterval(m * 60) }

    /// The minute index of a date, fractional.
    static func minutes(of date: Date) -> Double { date.timeIntervalSince(origin) / 60 }
}

/// Simple run times for the tests (the cron parser is tested on its own): every `n` minutes
/// (at minutes ≡ offset mod n), or at a fixed list of minutes. `fires(atMinute:)` is the
/// brute-force answer the property test scans with.
struct MinuteTimes: RunTimes, CustomStringConvertible {
    enum Spec: Sendable {
        case every(Int, offset: Int)
        case list([Int])
    }

    let spec: Spec

    static func every(_ n: Int, offset: Int = 0) -> MinuteTimes { MinuteTimes(spec: .every(max(1, n), offset: offset)) }
    static func at(_ minutes: [Int]) -> MinuteTimes { MinuteTimes(spec: .list(Array(Set(minutes)).sorted())) }

    func fires(atMinute m: Int) -> Bool {
        switch spec {
        case .every(let n, let offset): return ((m - offset) % n + n) % n == 0
        case .list(let minutes): return minutes.contains(m)
        }
    }

    func next(after date: Date) -> Date? {
        let first = Int((SchedulerClock.minutes(of: date)).rounded(.down)) + 1
        switch spec {
        case .every(let n, let offset):
            let r = ((first - offset) % n + n) % n
            return SchedulerClock.minute(Double(r == 0 ? first : first + n - r))
        case .list(let minutes):
            return minutes.first { $0 >= first }.map { SchedulerClock.minute(Double($0)) }
        }
    }

    var description: String {
        switch spec {
        case .every(let n, let offset): return "every \(n) min (+\(offset))"
        case .list(let minutes): return "at minutes \(minutes)"
        }
    }
}

/// A RunTimes that breaks the contract: it answers the instant it was given.
struct StuckTimes: RunTimes {
    func next(after date: Date) -> Date? { date }
}

extension SchedulerAction {
    var started: JobStart? {
        if case .start(let s) = self { return s }
        return nil
    }

    var cancelled: String? {
        if case .cancel(let job, _) = self { return job }
        return nil
    }
}

extension Array where Element == SchedulerAction {
    var startedNames: [String] { compactMap { $0.started?.name } }
    var cancelledNames: [String] { compactMap(\.cancelled) }
}
