import TidemarkCore
import TidemarkSystem

extension S3RepositorySettings {
    /// `s3.objectLock` as written → the lock, or a configuration error naming the field and
    /// the fix. The mode is `GOVERNANCE` or `COMPLIANCE` (or the same in lower case); `days` is
    /// a whole number in `S3ObjectLock.allowedDays`.
    package static func resolveObjectLock(_ section: S3Section.ObjectLockSection, repository name: String) throws -> S3ObjectLock {
        let example = #"for example "objectLock": {"mode": "COMPLIANCE", "days": 45} (docs/ransomware.md)"#
        guard let modeText = section.mode else {
            throw TidemarkError(.configuration, "repository '\(name)': s3.objectLock has no mode",
                                hints: ["set s3.objectLock.mode to \"GOVERNANCE\" or \"COMPLIANCE\", \(example)"])
        }
        guard let mode = S3ObjectLock.Mode(rawValue: modeText) ?? S3ObjectLock.Mode.allCases.first(where: { $0.rawValue.lowercased() == modeText }) else {
            throw TidemarkError(.configuration, "repository '\(name)': s3.objectLock.mode '\(modeText)' is not GOVERNANCE or COMPLIANCE",
                                hints: ["COMPLIANCE: nobody, not even the account's root user, can remove a locked version before its date; GOVERNANCE: a principal allowed s3:BypassGovernanceRetention can",
                                        example])
        }
        guard let days = section.days else {
            throw TidemarkError(.configuration, "repository '\(name)': s3.objectLock has no days",
                                hints: ["set s3.objectLock.days to how many days each object stays locked (\(S3ObjectLock.allowedDays.lowerBound)...\(S3ObjectLock.allowedDays.upperBound)): at least the retention you need plus a margin, \(example)"])
        }
        guard S3ObjectLock.allowedDays.contains(days) else {
            throw TidemarkError(.configuration, "repository '\(name)': s3.objectLock.days \(days) is out of range",
                                hints: ["use \(S3ObjectLock.allowedDays.lowerBound)...\(S3ObjectLock.allowedDays.upperBound) (whole days; S3 allows at most 100 years)"])
        }
        return S3ObjectLock(mode: mode, days: days)
    }
}
