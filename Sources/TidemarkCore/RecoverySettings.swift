/// What `recovery_target_action` does at the target.
public enum RecoveryTargetAction: String, Sendable, CaseIterable, Codable {
    case promote, pause, shutdown
}

/// The recovery settings a plan needs, in the order they are written (PG-INTERNALS §5.2).
/// Values are raw; `RecoverySettings.line` quotes them for postgresql.conf.
public struct RecoverySettings: Hashable, Sendable {
    public var settings: [Setting]

    public struct Setting: Hashable, Sendable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// Settings for `plan`: `restore_command`, the target, an explicit timeline, inclusive
    /// and the action (only with a target: PostgreSQL ignores it otherwise).
    public init(plan: RecoveryPlan, restoreCommand: String, action: RecoveryTargetAction) {
        var s = [Setting("restore_command", restoreCommand)]
        var hasTarget = true
        switch plan.request.target {
        case .immediate: s.append(Setting("recovery_target", "immediate"))
        case .latest: hasTarget = false
        case .time(let t): s.append(Setting("recovery_target_time", t.postgresText))
        case .lsn(let l): s.append(Setting("recovery_target_lsn", l.description))
        case .xid(let x): s.append(Setting("recovery_target_xid", String(x)))
        case .name(let n): s.append(Setting("recovery_target_name", n))
        }
        s.append(Setting("recovery_target_timeline", String(plan.targetTimeline.rawValue)))
        if hasTarget {
            switch plan.request.target {
            case .time, .lsn, .xid: s.append(Setting("recovery_target_inclusive", plan.request.inclusive ? "on" : "off"))
            default: break
            }
            s.append(Setting("recovery_target_action", action.rawValue))
        }
        settings = s
    }

    /// A postgresql.conf string literal: single quotes, embedded quotes doubled.
    public static func quote(_ value: String) -> String {
        "'" + value.replacing("'", with: "''") + "'"
    }

    /// `name = 'value'` lines.
    public var lines: [String] { settings.map { "\($0.name) = \(Self.quote($0.value))" } }

    /// The file the settings go into and the signal file that starts targeted recovery:
    /// `postgresql.auto.conf` + `recovery.signal` from PostgreSQL 12, `recovery.conf` (with
    /// `standby_mode` off) before.
    public static func files(forMajorVersion major: Int) -> (settings: String, signal: String?) {
        major >= 12 ? ("postgresql.auto.conf", "recovery.signal") : ("recovery.conf", nil)
    }
}
