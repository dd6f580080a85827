import Foundation

/// One thing that went wrong and has not been fixed yet: one alert when it opens, one
/// "resolved" message when it goes away, nothing in between.
public struct Incident: Sendable, Equatable, Codable {
    /// "watchdog" or "job.<name>".
    public var scope: String
    /// The condition's stable key ("backup.stale", …).
    public var key: String
    public var opened: Date
    /// The newest evaluation's condition (figures change while it stays open).
    public var condition: Condition
    /// Evaluations after the opening one that still saw it (suppressed repeats).
    public var repeats: Int
    public var lastSeen: Date

    public init(scope: String, key: String, opened: Date, condition: Condition, repeats: Int = 0, lastSeen: Date) {
        self.scope = scope
        self.key = key
        self.opened = opened
        self.condition = condition
        self.repeats = repeats
        self.lastSeen = lastSeen
    }
}

/// What the notifier sends.
public enum IncidentChange: Sendable, Equatable {
    /// A condition new in its scope: alert now.
    case opened(Incident)
    /// An open incident's condition is gone: one "resolved" message. `duration` is from its
    /// opening to the evaluation that no longer saw it.
    case resolved(Incident, duration: TimeInterval)
}

/// "One incident, one alert": open incidents per scope, updated from each evaluation of that
/// scope. Codable so the service keeps it across restarts (an incident open before a restart
/// is not announced again after it).
public struct IncidentTracker: Sendable, Equatable, Codable {
    /// scope → key → incident.
    private var open: [String: [String: Incident]] = [:]

    public init() {}

    /// Takes the complete set of conditions one evaluation of `scope` found (the watchdog's
    /// rules, or a job's last run) and returns what changed: openings in the order the
    /// conditions came, then resolutions by key. Other scopes are untouched. A key given twice
    /// counts once (the first). An empty list resolves everything open in the scope.
    public mutating func update(scope: String, conditions: [Condition], now: Date) -> [IncidentChange] {
        var current = open[scope] ?? [:]
        var seen: Set<String> = []
        var changes: [IncidentChange] = []
        for condition in conditions where seen.insert(condition.key).inserted {
            if var incident = current[condition.key] {
                incident.repeats += 1
                incident.lastSeen = now
                incident.condition = condition
                current[condition.key] = incident
            } else {
                let incident = Incident(scope: scope, key: condition.key, opened: now, condition: condition, lastSeen: now)
                current[condition.key] = incident
                changes.append(.opened(incident))
            }
        }
        for key in current.keys.sorted() where !seen.contains(key) {
            if let incident = current.removeValue(forKey: key) {
                changes.append(.resolved(incident, duration: max(0, now.timeIntervalSince(incident.opened))))
            }
        }
        open[scope] = current.isEmpty ? nil : current
        return changes
    }

    /// Every open incident, by scope then key.
    public var openIncidents: [Incident] {
        open.keys.sorted().flatMap { scope in
            (open[scope] ?? [:]).values.sorted { $0.key < $1.key }
        }
    }

    /// The open incidents of one scope, by key.
    public func openIncidents(in scope: String) -> [Incident] {
        (open[scope] ?? [:]).values.sorted { $0.key < $1.key }
    }
}
