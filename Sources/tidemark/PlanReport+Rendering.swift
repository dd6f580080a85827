#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tidemark
import TidemarkArchive
import TidemarkBackup
import TidemarkCore

extension PlanReport {
    /// The plan in words a DBA can check at 3 a.m.
    public func rendered(settings: RecoverySettings?) -> String {
        let p = plan
        var out: [String] = []
        func row(_ k: String, _ v: String) { out.append("  " + k.padding(toLength: 14, withPad: " ", startingAt: 0) + v) }
        out.append("Recovery plan (repository '\(repository)'): REACHABLE")
        row("target", p.request.target.words + ([.latest, .immediate].contains(p.request.target) ? "" : p.request.inclusive ? ", inclusive" : ", exclusive"))
        row("backup", "\(p.backup.id) (\(catalog.type.rawValue)), started \(catalog.startTime), consistent at \(p.backup.stopLSN) (\(catalog.stopTime))")
        let path = p.path.map { r in r.end.map { "\(r.timeline) until \($0)" } ?? "\(r.timeline)" }.joined(separator: ", then ")
        row("timeline", "\(p.targetTimeline)" + (p.path.count > 1 ? " (history: \(path))" : ""))
        row("stops", p.stop.words)
        if let c = p.lastCompletion {
            row("last commit", "transaction \(c.xid) \(c.isAbort ? "aborted" : "committed") at \(c.time.postgresText) (LSN \(c.lsn)) is the last one applied")
        } else {
            row("last commit", "none archived since the backup's WAL begins")
        }
        let first = p.segments.first?.description ?? "-"
        let last = p.segments.last?.description ?? "-"
        row("WAL", "\(p.segments.count) segment\(p.segments.count == 1 ? "" : "s") (\(first) … \(last))"
            + (p.histories.isEmpty ? "" : ", history of timeline " + p.histories.map(\.description).joined(separator: ", "))
            + "; \(mebibytes(p.replayBytes)) to replay")
        row("checked", "every segment recovery needs is in the archive at full length, with an authenticated end (\(segmentsInArchive) segments archived; \(summariesRead) summaries and \(segmentsScanned) whole segment\(segmentsScanned == 1 ? "" : "s") read in \(String(format: "%.2f", seconds)) s)")
        for n in p.notes { row("note", n) }
        if let settings {
            out.append("Recovery settings:")
            out += settings.lines.map { "  " + $0 }
        }
        return out.joined(separator: "\n")
    }

    /// `tidemark plan --json` (docs/plan-json.md).
    public func json(settings: RecoverySettings?) -> PlanJSON {
        let p = plan
        var stop = PlanJSON.Stop(kind: "", lsn: p.stop.lsn.description)
        switch p.stop {
        case .consistency: stop.kind = "consistency"
        case .endOfArchive: stop.kind = "endOfArchive"
        case .before(let c): stop.kind = "beforeCompletion"; stop.completion = PlanJSON.Completion(c)
        case .after(let c): stop.kind = "afterCompletion"; stop.completion = PlanJSON.Completion(c)
        case .restorePoint(let r): stop.kind = "restorePoint"; stop.name = r.name; stop.time = r.time.iso8601
        case .lsn(_, let inclusive): stop.kind = inclusive ? "afterLSN" : "beforeLSN"
        }
        var settingsMap: [String: String] = [:]
        for s in settings?.settings ?? [] { settingsMap[s.name] = s.value }
        return PlanJSON(reachable: true, repository: repository, backup: p.backup.id, backupType: catalog.type.rawValue,
                        backupStopLSN: p.backup.stopLSN.description,
                        target: PlanJSON.Target(type: p.request.target.kind, value: p.request.target.value, inclusive: p.request.inclusive),
                        timeline: p.targetTimeline.rawValue,
                        path: p.path.map { PlanJSON.Range(timeline: $0.timeline.rawValue, begin: $0.begin.description, end: $0.end?.description) },
                        stop: stop, lastCommit: p.lastCompletion.map(PlanJSON.Completion.init),
                        segments: p.segments.map(\.description), histories: p.histories.map { $0.hex + ".history" },
                        replayBytes: p.replayBytes, notes: p.notes, settings: settingsMap,
                        timing: PlanJSON.Timing(seconds: seconds, segmentsInArchive: segmentsInArchive, summariesRead: summariesRead,
                                                segmentsScanned: segmentsScanned))
    }
}

/// The JSON form of a plan (`tidemark plan --json`); field names are an interface.
public struct PlanJSON: Codable, Sendable {
    public var reachable: Bool
    public var repository: String?
    public var backup: String?
    public var backupType: String?
    public var backupStopLSN: String?
    public var target: Target?
    public var timeline: UInt32?
    public var path: [Range]?
    public var stop: Stop?
    public var lastCommit: Completion?
    public var segments: [String]?
    public var histories: [String]?
    public var replayBytes: UInt64?
    public var notes: [String]?
    public var settings: [String: String]?
    public var timing: Timing?
    /// When unreachable.
    public var reason: String?
    public var message: String?
    public var alternatives: [String]?
    public var missingSegment: String?

    public struct Target: Codable, Sendable {
        public var type: String
        public var value: String?
        public var inclusive: Bool
    }
    public struct Range: Codable, Sendable {
        public var timeline: UInt32
        public var begin: String
        public var end: String?
    }
    public struct Completion: Codable, Sendable {
        public var lsn: String
        public var xid: UInt32
        public var time: String
        public var kind: String
        init(_ c: WALCompletion) {
            lsn = c.lsn.description
            xid = c.xid
            time = c.time.iso8601
            kind = c.isAbort ? "abort" : "commit"
        }
    }
    public struct Stop: Codable, Sendable {
        public var kind: String
        public var lsn: String
        public var completion: Completion?
        public var name: String?
        public var time: String?
    }
    public struct Timing: Codable, Sendable {
        public var seconds: Double
        public var segmentsInArchive: Int
        public var summariesRead: Int
        public var segmentsScanned: Int
    }

    public static func unreachable(_ u: Unreachable) -> PlanJSON {
        var j = PlanJSON(reachable: false)
        j.reason = u.reason.rawValue
        j.message = u.message
        j.alternatives = u.alternatives
        j.missingSegment = u.missing
        return j
    }

    init(reachable: Bool, repository: String? = nil, backup: String? = nil, backupType: String? = nil, backupStopLSN: String? = nil,
         target: Target? = nil, timeline: UInt32? = nil, path: [Range]? = nil, stop: Stop? = nil, lastCommit: Completion? = nil,
         segments: [String]? = nil, histories: [String]? = nil, replayBytes: UInt64? = nil, notes: [String]? = nil,
         settings: [String: String]? = nil, timing: Timing? = nil) {
        self.reachable = reachable
        self.repository = repository
        self.backup = backup
        self.backupType = backupType
        self.backupStopLSN = backupStopLSN
        self.target = target
        self.timeline = timeline
        self.path = path
        self.stop = stop
        self.lastCommit = lastCommit
        self.segments = segments
        self.histories = histories
        self.replayBytes = replayBytes
        self.notes = notes
        self.settings = settings
        self.timing = timing
    }
}
