#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tidemark
import TidemarkCore
import TidemarkPolicy

/// The `schedule` section resolved: the jobs (defaults merged with the configured ones), the
/// zone, the catch-up window and the report times. Every problem is a configuration error
/// that names the job and the field.
public struct ScheduleSettings: Sendable {
    public var jobs: [ServiceJob]
    public var timeZone: TimeZone
    /// The zone as configured ("UTC" stays "UTC"; Foundation calls it GMT).
    public var timeZoneName: String
    public var catchUp: TimeInterval
    public var dailySummary: CronSchedule?
    public var weeklyReport: CronSchedule?

    public func job(named name: String) throws -> ServiceJob {
        guard let job = jobs.first(where: { $0.name == name }) else {
            throw TidemarkError(.notFound, "no job is named '\(name)'",
                                hints: ["jobs: " + jobs.map(\.name).joined(separator: ", ") + " (tidemark schedule)"])
        }
        return job
    }

    /// `filesConfigured`: the configuration names file storage (`files.paths`); backup jobs
    /// then include the files unless they say `"includeFiles": false`.
    public static func resolve(_ section: ScheduleSection?, filesConfigured: Bool = false) throws -> ScheduleSettings {
        let section = section ?? ScheduleSection()
        let zoneName = section.timeZone ?? "UTC"
        guard let zone = TimeZone(identifier: zoneName) else {
            throw TidemarkError(.configuration, "schedule.timeZone '\(zoneName)' is not a time zone",
                                hints: ["use an IANA name such as UTC, Europe/Berlin or America/New_York"])
        }
        let catchUpHours = section.catchUpHours ?? 6
        guard catchUpHours >= 0, catchUpHours <= 24 * 31 else {
            throw TidemarkError(.configuration, "schedule.catchUpHours \(catchUpHours) is out of range",
                                hints: ["use 0 (never catch up) to 744 hours"])
        }
        var jobs: [ServiceJob] = []
        if section.defaults ?? true {
            for d in DefaultJobs.definitions {
                let cron = try parse(d.cron, where: "default job '\(d.name)'")
                jobs.append(ServiceJob(name: d.name, kind: d.kind, cron: cron, schedule: CronSchedule(cron, timeZone: zone),
                                       timeout: .seconds(d.kind.defaultTimeoutMinutes * 60), enabled: true,
                                       includeFiles: d.kind.typeName == "backup" && filesConfigured))
            }
        }
        var seen: Set<String> = []
        for (i, j) in (section.jobs ?? []).enumerated() {
            let job = try resolve(j, index: i, zone: zone, defaults: jobs, filesConfigured: filesConfigured)
            guard seen.insert(job.name).inserted else {
                throw TidemarkError(.configuration, "schedule.jobs names '\(job.name)' twice", hints: ["give each job its own name"])
            }
            if let k = jobs.firstIndex(where: { $0.name == job.name }) { jobs[k] = job } else { jobs.append(job) }
        }
        func report(_ text: String?, _ fallback: String, _ key: String) throws -> CronSchedule? {
            let t = text ?? fallback
            if t.trimmingCharacters(in: .whitespaces).isEmpty { return nil }
            return CronSchedule(try parse(t, where: "schedule.\(key)"), timeZone: zone)
        }
        return ScheduleSettings(jobs: jobs, timeZone: zone, timeZoneName: zoneName, catchUp: catchUpHours * 3600,
                                dailySummary: try report(section.dailySummary, "0 8 * * *", "dailySummary"),
                                weeklyReport: try report(section.weeklyReport, "0 8 * * 1", "weeklyReport"))
    }

    static func resolve(_ j: JobSection, index: Int, zone: TimeZone, defaults: [ServiceJob], filesConfigured: Bool) throws -> ServiceJob {
        guard let name = j.name, !name.isEmpty else {
            throw TidemarkError(.configuration, "schedule.jobs[\(index)] has no name", hints: ["add \"name\": \"nightly\" (letters, digits, - and _)"])
        }
        guard name.utf8.count <= 64, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw TidemarkError(.configuration, "schedule job name '\(name)' is not 1–64 letters, digits, - or _")
        }
        let base = defaults.first { $0.name == name }
        let at = "schedule job '\(name)'"
        let kind: ServiceJob.Kind
        switch j.type ?? base?.kind.typeName {
        case "backup":
            let typeText = j.backupType ?? {
                if case .backup(let full, _)? = base?.kind { return full ? "full" : "incremental" }
                return nil
            }()
            guard let typeText, ["full", "incremental"].contains(typeText) else {
                throw TidemarkError(.configuration, "\(at): backupType must be full or incremental",
                                    hints: ["add \"backupType\": \"incremental\""])
            }
            var pin = j.pinMonths
            if pin == nil, case .backup(_, let p)? = base?.kind { pin = p }
            if let p = pin, !(1...1200).contains(p) {
                throw TidemarkError(.configuration, "\(at): pinMonths \(p) is out of range", hints: ["use 1 to 1200 months"])
            }
            kind = .backup(full: typeText == "full", pinMonths: pin)
        case "expire": kind = .expire
        case "verify":
            if let p = j.samplePercent, !(0...100).contains(p) {
                throw TidemarkError(.configuration, "\(at): samplePercent \(p) is not 0–100")
            }
            kind = .verify(full: j.full ?? false, samplePercent: j.samplePercent)
        case "rehearse": kind = .rehearse
        case let other:
            throw TidemarkError(.configuration, "\(at): type '\(other ?? "")' is not a job type",
                                hints: ["use backup, expire, verify or rehearse"])
        }
        guard let cronText = j.cron ?? base?.cron.description else {
            throw TidemarkError(.configuration, "\(at) has no cron expression", hints: ["add \"cron\": \"0 3 * * *\" (minute hour day month weekday)"])
        }
        let cron = try parse(cronText, where: at)
        let includeFiles = j.includeFiles ?? (kind.typeName == "backup" && filesConfigured)
        if includeFiles && kind.typeName != "backup" {
            throw TidemarkError(.configuration, "\(at): includeFiles is for backup jobs, not \(kind.typeName)",
                                hints: ["remove \"includeFiles\" from this job; a backup job with it backs the files up after the database"])
        }
        if includeFiles && !filesConfigured {
            throw TidemarkError(.configuration, "\(at): includeFiles is set but no file storage is configured",
                                hints: ["list the directories in files.paths (docs/files.md), or remove \"includeFiles\""])
        }
        let minutes = j.timeoutMinutes ?? kind.defaultTimeoutMinutes
        guard minutes >= 1, minutes <= 7 * 24 * 60 else {
            throw TidemarkError(.configuration, "\(at): timeoutMinutes \(minutes) is out of range", hints: ["use 1 to 10080 minutes"])
        }
        return ServiceJob(name: name, kind: kind, cron: cron, schedule: CronSchedule(cron, timeZone: zone),
                          timeout: .seconds(minutes * 60), enabled: j.enabled ?? true, includeFiles: includeFiles)
    }

    static func parse(_ text: String, where place: String) throws -> CronExpression {
        do {
            return try CronExpression.parse(text)
        } catch {
            throw TidemarkError(.configuration, "\(place): cron expression '\(text)': \(error.message)", hints: [error.hint])
        }
    }
}
