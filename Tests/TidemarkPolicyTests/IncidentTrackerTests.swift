import Foundation
import Testing
import TidemarkPolicy

/// One incident, one alert: openings, suppressed repeats, one resolution; scopes apart;
/// restarts (Codable); and the delivery backoff.
@Suite("IncidentTracker")
struct IncidentTrackerTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func condition(_ key: String, _ summary: String = "s", severity: Severity = .critical) -> Condition {
        Condition(key: key, severity: severity, summary: summary, detail: "d", hint: "h")
    }

    static func opened(_ changes: [IncidentChange]) -> [String] {
        changes.compactMap { if case .opened(let i) = $0 { return i.key } else { return nil } }
    }

    static func resolved(_ changes: [IncidentChange]) -> [String] {
        changes.compactMap { if case .resolved(let i, _) = $0 { return i.key } else { return nil } }
    }

    @Test func aNewConditionOpensOnceRepeatsAreSuppressedAndItResolvesOnce() throws {
        var tracker = IncidentTracker()
        let first = tracker.update(scope: "watchdog", conditions: [Self.condition("backup.stale", "27 hours")], now: Self.t0)
        #expect(first == [.opened(Incident(scope: "watchdog", key: "backup.stale", opened: Self.t0,
                                           condition: Self.condition("backup.stale", "27 hours"), lastSeen: Self.t0))])
        for minute in 1...5 {
            let again = tracker.update(scope: "watchdog", conditions: [Self.condition("backup.stale", "\(27 + minute) hours")],
                                       now: Self.t0 + Double(minute) * 60)
            #expect(again.isEmpty)
        }
        let open = try #require(tracker.openIncidents.first)
        #expect(open.repeats == 5)
        #expect(open.condition.summary == "32 hours")
        #expect(open.lastSeen == Self.t0 + 300)
        let gone = tracker.update(scope: "watchdog", conditions: [], now: Self.t0 + 3600)
        guard case .resolved(let incident, let duration) = try #require(gone.first), gone.count == 1 else {
            Issue.record("expected one resolution, got \(gone)")
            return
        }
        #expect(incident.key == "backup.stale")
        #expect(incident.repeats == 5)
        #expect(duration == 3600)
        #expect(tracker.openIncidents.isEmpty)
        #expect(tracker.update(scope: "watchdog", conditions: [], now: Self.t0 + 7200).isEmpty)
    }

    @Test func aConditionThatComesBackIsANewIncident() {
        var tracker = IncidentTracker()
        _ = tracker.update(scope: "watchdog", conditions: [Self.condition("archive.silent")], now: Self.t0)
        _ = tracker.update(scope: "watchdog", conditions: [], now: Self.t0 + 60)
        let back = tracker.update(scope: "watchdog", conditions: [Self.condition("archive.silent")], now: Self.t0 + 120)
        #expect(Self.opened(back) == ["archive.silent"])
        #expect(tracker.openIncidents.first?.opened == Self.t0 + 120)
    }

    @Test func openingsComeInOrderThenResolutionsByKey() {
        var tracker = IncidentTracker()
        _ = tracker.update(scope: "watchdog", conditions: [Self.condition("window.short"), Self.condition("archive.backlog"),
                                                            Self.condition("backup.stale")], now: Self.t0)
        let changes = tracker.update(scope: "watchdog", conditions: [Self.condition("storage.full.s3"), Self.condition("backup.stale"),
                                                                      Self.condition("probe.server")], now: Self.t0 + 60)
        #expect(Self.opened(changes) == ["storage.full.s3", "probe.server"])
        #expect(Self.resolved(changes) == ["archive.backlog", "window.short"])
        #expect(changes.count == 4)
        if case .resolved = changes[1] { Issue.record("resolutions must follow the openings: \(changes)") }
    }

    @Test func scopesAreApart() {
        var tracker = IncidentTracker()
        _ = tracker.update(scope: "watchdog", conditions: [Self.condition("backup.stale")], now: Self.t0)
        let job = tracker.update(scope: "job.full", conditions: [Self.condition("backup.stale")], now: Self.t0)
        #expect(Self.opened(job) == ["backup.stale"])
        #expect(tracker.update(scope: "job.full", conditions: [], now: Self.t0 + 60).count == 1)
        #expect(tracker.openIncidents(in: "watchdog").map(\.key) == ["backup.stale"])
        #expect(tracker.openIncidents(in: "job.full").isEmpty)
    }

    @Test func aKeyGivenTwiceCountsOnce() {
        var tracker = IncidentTracker()
        let changes = tracker.update(scope: "watchdog", conditions: [Self.condition("probe.x", "first"), Self.condition("probe.x", "second")], now: Self.t0)
        #expect(Self.opened(changes) == ["probe.x"])
        #expect(tracker.openIncidents.first?.condition.summary == "first")
        #expect(tracker.openIncidents.first?.repeats == 0)
    }

    @Test func aSeverityChangeIsNoNewAlert() {
        var tracker = IncidentTracker()
        _ = tracker.update(scope: "watchdog", conditions: [Self.condition("storage.full.a", severity: .warning)], now: Self.t0)
        #expect(tracker.update(scope: "watchdog", conditions: [Self.condition("storage.full.a", severity: .critical)], now: Self.t0 + 60).isEmpty)
        #expect(tracker.openIncidents.first?.condition.severity == .critical)
    }

    @Test func anIncidentOpenBeforeARestartIsNotAnnouncedAgain() throws {
        var tracker = IncidentTracker()
        _ = tracker.update(scope: "watchdog", conditions: [Self.condition("backup.stale")], now: Self.t0)
        _ = tracker.update(scope: "job.verify", conditions: [Self.condition("job.failed")], now: Self.t0)
        let saved = try JSONEncoder().encode(tracker)
        var restored = try JSONDecoder().decode(IncidentTracker.self, from: saved)
        #expect(restored == tracker)
        #expect(restored.update(scope: "watchdog", conditions: [Self.condition("backup.stale")], now: Self.t0 + 60).isEmpty)
        let resolved = restored.update(scope: "job.verify", conditions: [], now: Self.t0 + 90)
        #expect(resolved == [.resolved(Incident(scope: "job.verify", key: "job.failed", opened: Self.t0,
                                                condition: Self.condition("job.failed"), lastSeen: Self.t0), duration: 90)])
    }

    // MARK: DeliveryBackoff

    @Test func backoffFollowsTheScheduleAndCapsAtTenMinutes() {
        let b = DeliveryBackoff.standard
        #expect((1...7).map { b.delay(afterFailedAttempts: $0, jitter: 0) } == [1, 5, 30, 120, 600, 600, 600])
        #expect(b.delay(afterFailedAttempts: 8, jitter: 0) == nil)
        #expect(b.delay(afterFailedAttempts: 100, jitter: 0) == nil)
    }

    @Test func jitterOnlyShortensAndIsDeterministic() {
        let b = DeliveryBackoff.standard
        #expect(b.delay(afterFailedAttempts: 5, jitter: 1) == 480)
        #expect(b.delay(afterFailedAttempts: 2, jitter: 0.5) == 4.5)
        #expect(b.delay(afterFailedAttempts: 3, jitter: 0.25) == b.delay(afterFailedAttempts: 3, jitter: 0.25))
        for attempt in 1...7 {
            for u in stride(from: 0.0, through: 1.0, by: 0.125) {
                let d = b.delay(afterFailedAttempts: attempt, jitter: u) ?? -1
                let full = b.delay(afterFailedAttempts: attempt, jitter: 0) ?? -1
                #expect(d <= full && d >= full * 0.8 && d <= 600)
            }
        }
    }

    @Test func oddInputsAreClamped() {
        let b = DeliveryBackoff.standard
        #expect(b.delay(afterFailedAttempts: 0, jitter: 0) == 1)
        #expect(b.delay(afterFailedAttempts: -3, jitter: 0) == 1)
        #expect(b.delay(afterFailedAttempts: 1, jitter: 7) == 0.8)
        #expect(b.delay(afterFailedAttempts: 1, jitter: -1) == 1)
        #expect(b.delay(afterFailedAttempts: 1, jitter: .nan) == 1)
        #expect(DeliveryBackoff(delays: [], maxAttempts: 3).delay(afterFailedAttempts: 1, jitter: 0) == nil)
        #expect(DeliveryBackoff(maxAttempts: 1).delay(afterFailedAttempts: 1, jitter: 0) == nil)
    }
}
