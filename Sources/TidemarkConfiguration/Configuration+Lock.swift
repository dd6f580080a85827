import TidemarkCore

extension ConfigurationLoader {
    /// `lockLeaseSeconds` from the file, overridden by TIDEMARK_LOCK_LEASE_SECONDS.
    package static func lockLease(file: ConfigFile, environment env: [String: String]) throws -> Double {
        var seconds = file.lockLeaseSeconds ?? 60
        if let text = env["TIDEMARK_LOCK_LEASE_SECONDS"], !text.isEmpty {
            guard let v = Double(text) else {
                throw TidemarkError(.configuration, "TIDEMARK_LOCK_LEASE_SECONDS '\(text)' is not a number of seconds")
            }
            seconds = v
        }
        guard seconds >= 1, seconds <= 86400 else {
            throw TidemarkError(.configuration, "lock lease of \(seconds) s is out of range", hints: ["use 1 to 86400 seconds (lockLeaseSeconds / TIDEMARK_LOCK_LEASE_SECONDS)"])
        }
        return seconds
    }
}
