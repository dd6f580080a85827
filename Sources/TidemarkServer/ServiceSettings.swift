#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tidemark
import TidemarkCore
import TidemarkNotify
import TidemarkPolicy

/// Everything the service reads from the configuration, resolved and checked once at start
/// (`serve`, `schedule`, `run-job` and `notify test` all begin here, so a mistake is reported
/// before anything runs).
public struct ServiceSettings: Sendable {
    public var schedule: ScheduleSettings
    public var thresholds: AlertThresholds
    public var checkInterval: Duration
    /// Host and port of /metrics and /healthz.
    public var listenHost: String
    public var listenPort: Int
    public var metricsTokenFile: String
    public var dataDirectory: String?
    public var stateDirectory: String
    public var notifications: NotificationSettings

    public static let defaultListen = "127.0.0.1:8470"

    public static func resolve(_ configuration: Configuration, environment env: [String: String],
                               listen override: String? = nil) throws -> ServiceSettings {
        let s = configuration.service
        let schedule = try ScheduleSettings.resolve(s.schedule, filesConfigured: configuration.files.isConfigured)
        var t = AlertThresholds()
        let a = s.alerts ?? AlertsSection()
        func positive(_ v: Double?, _ key: String) throws -> Double? {
            guard let v else { return nil }
            guard v > 0, v.isFinite else {
                throw TidemarkError(.configuration, "alerts.\(key) must be a positive number, not \(v)")
            }
            return v
        }
        if let h = try positive(a.maxBackupAgeHours, "maxBackupAgeHours") { t.maxBackupAge = h * 3600 }
        if let m = try positive(a.maxArchiveSilenceMinutes, "maxArchiveSilenceMinutes") { t.maxArchiveSilence = m * 60 }
        if let n = a.maxReadySegments {
            guard n > 0 else { throw TidemarkError(.configuration, "alerts.maxReadySegments must be 1 or more, not \(n)") }
            t.maxReadySegments = n
        }
        if let p = a.storagePercent {
            guard p > 0, p <= 100 else { throw TidemarkError(.configuration, "alerts.storagePercent must be 1–100, not \(p)") }
            t.storagePercent = p
        }
        let interval = try positive(a.checkIntervalSeconds, "checkIntervalSeconds") ?? 60
        let (host, port) = try parseListen(override ?? s.serve?.listen ?? defaultListen)
        let state = try stateDirectory(s.serve?.stateDirectory, environment: env)
        let notifications = try NotificationSettings.resolve(notifications: s.notifications, smtp: s.smtp, environment: env)
        return ServiceSettings(schedule: schedule, thresholds: t, checkInterval: .seconds(max(5, interval)), listenHost: host,
                               listenPort: port, metricsTokenFile: s.serve?.metricsTokenFile ?? state + "/metrics.token",
                               dataDirectory: s.serve?.dataDirectory ?? env["PGDATA"].flatMap { $0.isEmpty ? nil : $0 },
                               stateDirectory: state, notifications: notifications)
    }

    /// `HOST:PORT` or `[IPv6]:PORT` (`HTTPListenConfiguration.parse`).
    public static func parseListen(_ text: String) throws -> (String, Int) {
        try HTTPListenConfiguration.parse(text)
    }

    /// serve.stateDirectory, else $XDG_STATE_HOME/tidemark, else ~/.local/state/tidemark.
    static func stateDirectory(_ configured: String?, environment env: [String: String]) throws -> String {
        if let configured, !configured.isEmpty {
            guard configured.hasPrefix("/") else {
                throw TidemarkError(.configuration, "serve.stateDirectory '\(configured)' is not an absolute path")
            }
            return configured
        }
        if let x = env["XDG_STATE_HOME"], x.hasPrefix("/") { return x + "/tidemark" }
        if let home = env["HOME"], home.hasPrefix("/") { return home + "/.local/state/tidemark" }
        throw TidemarkError(.configuration, "no directory for the service's state: HOME is not set",
                            hints: ["set serve.stateDirectory in the config file, e.g. /var/lib/tidemark"])
    }
}
