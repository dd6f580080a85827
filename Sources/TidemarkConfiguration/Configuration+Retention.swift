import TidemarkCore
import TidemarkPolicy

/// The `retention` section, at the top of the config file or in one repository, as written
/// (every field optional; docs/retention.md).
public struct RetentionSection: Codable, Sendable, Hashable {
    public var daily: Int?
    public var weekly: Int?
    public var monthly: Int?
    public var yearly: Int?
    public var pitrDays: Int?
    public var minFullChains: Int?
    public var timeZone: String?

    package enum CodingKeys: String, CodingKey, CaseIterable {
        case daily, weekly, monthly, yearly, pitrDays, minFullChains, timeZone
    }

    public init() {}

    /// `base` with every field this section sets replaced.
    func applied(to base: RetentionPolicy) -> RetentionPolicy {
        var p = base
        if let v = daily { p.daily = v }
        if let v = weekly { p.weekly = v }
        if let v = monthly { p.monthly = v }
        if let v = yearly { p.yearly = v }
        if let v = pitrDays { p.pitrDays = v }
        if let v = minFullChains { p.minFullChains = v }
        if let v = timeZone { p.timeZone = v }
        return p
    }
}

extension ConfigurationLoader {
    /// The policy of every repository: the defaults (7 daily, 4 weekly, 12 monthly, 7 PITR
    /// days, one full chain), then the file's top-level `retention`, then BACKUP_RETENTION_*,
    /// then the repository's own `retention`.
    package static func retention(file: ConfigFile, repositories: [RepositorySpec],
                                  environment env: [String: String]) throws -> [String: RetentionPolicy] {
        var global = file.retention?.applied(to: .default) ?? .default
        let variables: [(String, WritableKeyPath<RetentionPolicy, Int>)] = [
            ("BACKUP_RETENTION_DAILY", \.daily), ("BACKUP_RETENTION_WEEKLY", \.weekly),
            ("BACKUP_RETENTION_MONTHLY", \.monthly), ("BACKUP_RETENTION_YEARLY", \.yearly),
            ("BACKUP_RETENTION_PITR_DAYS", \.pitrDays), ("BACKUP_RETENTION_MIN_FULL_CHAINS", \.minFullChains),
        ]
        for (name, path) in variables {
            guard let text = env[name], !text.isEmpty else { continue }
            guard let v = Int(text) else {
                throw TidemarkError(.configuration, "\(name) '\(text)' is not a whole number",
                                    hints: ["set it to a count, for example \(name)=7 (docs/retention.md)"])
            }
            global[keyPath: path] = v
        }
        if let zone = env["BACKUP_RETENTION_TIME_ZONE"], !zone.isEmpty { global.timeZone = zone }
        try validate(global, where: "retention")
        var out: [String: RetentionPolicy] = [:]
        for r in repositories {
            let policy = r.retention?.applied(to: global) ?? global
            try validate(policy, where: "repository '\(r.name)': retention")
            out[r.name] = policy
        }
        return out
    }

    static func validate(_ p: RetentionPolicy, where place: String) throws {
        let counts: [(String, Int)] = [("daily", p.daily), ("weekly", p.weekly), ("monthly", p.monthly), ("yearly", p.yearly),
                                       ("pitrDays", p.pitrDays)]
        for (name, v) in counts where !(0...10_000).contains(v) {
            throw TidemarkError(.configuration, "\(place).\(name) is \(v): out of range", hints: ["use 0 to 10000 (docs/retention.md)"])
        }
        guard (1...100).contains(p.minFullChains) else {
            throw TidemarkError(.configuration, "\(place).minFullChains is \(p.minFullChains): it must be 1 to 100",
                                hints: ["the newest full backup and its incrementals are always kept; keep minFullChains at 1 or more"])
        }
        if !RetentionCalendar.knows(timeZone: p.timeZone) {
            throw TidemarkError(.configuration, "\(place).timeZone '\(p.timeZone ?? "")' names no time zone this system knows",
                                hints: ["use an IANA name such as Europe/Berlin or America/New_York (see /usr/share/zoneinfo), or leave it out for UTC"])
        }
    }
}
