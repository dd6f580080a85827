/// What a repository keeps (configuration `retention`, docs/retention.md). Calendar tiers count
/// the N most recent days (ISO weeks, months, years) *that hold a backup* and keep the newest
/// backup of each; the PITR window keeps every instant of the last `pitrDays` days, counted back
/// from the newest archived commit.
public struct RetentionPolicy: Sendable, Hashable, Codable {
    public var daily: Int
    public var weekly: Int
    public var monthly: Int
    public var yearly: Int
    public var pitrDays: Int
    public var minFullChains: Int
    /// IANA zone name for the calendar buckets; nil is UTC.
    public var timeZone: String?

    public init(daily: Int = 7, weekly: Int = 4, monthly: Int = 12, yearly: Int = 0, pitrDays: Int = 7,
                minFullChains: Int = 1, timeZone: String? = nil) {
        self.daily = daily
        self.weekly = weekly
        self.monthly = monthly
        self.yearly = yearly
        self.pitrDays = pitrDays
        self.minFullChains = minFullChains
        self.timeZone = timeZone
    }

    /// The guide's policy: 7 daily, 4 weekly, 12 monthly, a 7-day PITR window, one full chain.
    public static let `default` = RetentionPolicy()

    /// Seconds between the backups this policy expects: a day when it keeps dailies, else a
    /// week, a month or a year. While the newest backup is older than twice this, expire
    /// deletes nothing (a failing pipeline must not also eat its history).
    public var expectedInterval: Int64 {
        if daily > 0 { return 86_400 }
        if weekly > 0 { return 7 * 86_400 }
        if monthly > 0 { return 31 * 86_400 }
        return 366 * 86_400
    }
}
