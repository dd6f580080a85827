/// Retention of file snapshots (docs/retention.md, "File snapshots"): the repository's policy
/// applied to `files backup` snapshots, a pure function like `Retention.evaluate`.
///
/// A snapshot is kept when any rule names it:
/// - it is the newest snapshot (the parent of the next incremental, the latest files);
/// - it is newer than `asOf`;
/// - calendar tiers: the newest snapshot of each of the N most recent days, ISO weeks, months
///   and years that hold one;
/// - the PITR window: every snapshot taken inside it, and the newest taken before it starts, so
///   `files restore --as-of T` finds the same snapshot for every T the database can reach;
/// - it was taken with a database backup this run keeps ("with database backup X").
/// When the newest snapshot is older than twice the policy's interval, file backups are
/// failing and nothing is deleted (as for database backups).
public enum FilesRetention {
    public struct Snapshot: Sendable, Hashable {
        public var id: String
        /// Seconds since the epoch: when the file backup started.
        public var time: Int64
        public var databaseBackup: String?

        public init(id: String, time: Int64, databaseBackup: String? = nil) {
            self.id = id
            self.time = time
            self.databaseBackup = databaseBackup
        }
    }

    public struct Decision: Sendable, Hashable {
        public var id: String
        public var keep: Bool
        public var reasons: [String]
        public init(id: String, keep: Bool, reasons: [String]) {
            self.id = id
            self.keep = keep
            self.reasons = reasons
        }
    }

    public struct Plan: Sendable, Hashable {
        /// Oldest first.
        public var decisions: [Decision]
        /// Why nothing is deleted, or nil.
        public var hold: String?
        public init(decisions: [Decision], hold: String?) {
            self.decisions = decisions
            self.hold = hold
        }
        public var deleted: [String] { decisions.filter { !$0.keep }.map(\.id) }
        public var kept: [String] { decisions.filter(\.keep).map(\.id) }
    }

    /// `windowStart`: the PITR window's first instant as the database plan computed it (nil:
    /// `pitrDays` before `asOf`, else before `now`). `keptDatabaseBackups`: the database
    /// backups this run keeps, in every repository.
    public static func evaluate(_ policy: RetentionPolicy, snapshots: [Snapshot], keptDatabaseBackups: Set<String>,
                                windowStart: Int64?, now: Int64, asOf: Int64? = nil) -> Plan {
        let sorted = snapshots.sorted { ($0.time, $0.id) < ($1.time, $1.id) }
        func all(_ why: String) -> Plan {
            Plan(decisions: sorted.map { Decision(id: $0.id, keep: true, reasons: [why]) }, hold: why)
        }
        guard let newest = sorted.last else { return Plan(decisions: [], hold: nil) }
        let stale = now - newest.time
        if stale > 2 * policy.expectedInterval {
            return all("the newest file snapshot, \(newest.id), started \(stale / 3600) hours ago (more than twice the policy's interval of \(policy.expectedInterval / 3600) hours): file backups are failing, and expire deletes no file snapshot until one succeeds")
        }
        guard let calendar = RetentionCalendar(timeZone: policy.timeZone) else {
            return all("retention.timeZone '\(policy.timeZone ?? "")' names no time zone this system knows")
        }
        var reasons: [String: [String]] = [:]
        func keep(_ id: String, _ why: String) {
            if reasons[id]?.contains(why) != true { reasons[id, default: []].append(why) }
        }
        keep(newest.id, "newest")
        let cutoff = asOf ?? Int64.max
        let inScope = sorted.filter { $0.time <= cutoff }
        for s in sorted where s.time > cutoff { keep(s.id, "newer than as-of") }

        let tiers: [(RetentionCalendar.Tier, Int)] = [(.daily, policy.daily), (.weekly, policy.weekly),
                                                      (.monthly, policy.monthly), (.yearly, policy.yearly)]
        for (tier, count) in tiers where count > 0 {
            for (s, bucket) in calendar.newestPerBucket(tier, count: count, of: inScope, time: { $0.time }) {
                keep(s.id, "\(tier.rawValue) \(bucket)")
            }
        }

        let start = windowStart ?? ((asOf ?? now) - Int64(max(0, policy.pitrDays)) * 86_400)
        if policy.pitrDays > 0 || windowStart != nil {
            for s in inScope where s.time >= start { keep(s.id, "pitr window") }
            if let anchor = inScope.last(where: { $0.time < start }) { keep(anchor.id, "pitr window") }
        }

        for s in sorted {
            if let b = s.databaseBackup, keptDatabaseBackups.contains(b) { keep(s.id, "with database backup \(b)") }
        }
        let decisions = sorted.map { s in
            Decision(id: s.id, keep: reasons[s.id] != nil, reasons: reasons[s.id] ?? [Retention.deletedReason])
        }
        return Plan(decisions: decisions, hold: nil)
    }
}
