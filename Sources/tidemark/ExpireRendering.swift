import Tidemark
import TidemarkRetention
import TidemarkPolicy

extension ExpireReport {
    /// The text `tidemark expire` prints (the JSON carries the same, docs/expire-json.md).
    func rendered() -> String {
        var out: [String] = []
        for r in repositories {
            let p = r.policy
            out.append("repository '\(r.repository)' (\(r.location)): keep \(p.daily) daily, \(p.weekly) weekly, \(p.monthly) monthly, \(p.yearly) yearly, a \(p.pitrDays)-day PITR window, \(p.minFullChains) full chain\(p.minFullChains == 1 ? "" : "s")\(p.timeZone.map { " (\($0))" } ?? " (UTC)")")
            if let error = r.error {
                out.append("  ERROR: \(error)")
                continue
            }
            // FILE_BACKUP_DIR's own repository holds file snapshots only.
            guard !(r.files != nil && r.backups.isEmpty && r.walKept.isEmpty && r.walDeleted.isEmpty) else {
                out += r.files.map(files) ?? []
                continue
            }
            if let hold = r.hold { out.append("  nothing is deleted: \(hold)") }
            if let start = r.windowStart, let end = r.windowEnd { out.append("  PITR window: \(start) to \(end)") }
            for id in r.resumed { out.append("  finish    \(id)  (an interrupted deletion)") }
            for b in r.backups {
                out.append("  \(b.keep ? "keep  " : "delete")    \(b.id)  ended \(b.endTime)  \(b.reasons.joined(separator: "; "))")
            }
            for w in r.walDeleted {
                out.append("  delete WAL timeline \(w.timeline): \(w.from) to \(w.to) (\(w.segments) segment\(w.segments == 1 ? "" : "s"), \(formatBytes(w.bytes)))")
            }
            for l in r.locked.prefix(5) { out.append("  locked    \(l.key) until \(l.retainUntil) (object lock): left for a later run") }
            if r.locked.count > 5 { out.append("  locked    … and \(r.locked.count - 5) more objects") }
            let verb = dryRun ? "would delete" : "deleted"
            out.append("  \(verb) \(r.backupsDeleted) backup\(r.backupsDeleted == 1 ? "" : "s") and \(r.segmentsDeleted) WAL segment\(r.segmentsDeleted == 1 ? "" : "s"): \(r.objectsDeleted) objects, \(formatBytes(r.bytesFreed)) freed")
            out.append("  restorable before: " + Self.windows(r.windowsBefore))
            out.append("  restorable after:  " + Self.windows(r.windowsAfter))
            out += r.files.map(files) ?? []
        }
        out.append(dryRun ? "plan \(planHash): nothing was deleted (dry run); `tidemark expire --apply \(planHash)` runs exactly this plan"
                          : "plan \(planHash)")
        return out.joined(separator: "\n")
    }

    /// The file snapshots' lines.
    func files(_ f: ExpireFilesReport) -> [String] {
        var out: [String] = []
        if let error = f.error {
            out.append("  files: ERROR: \(error)")
            return out
        }
        if let hold = f.hold { out.append("  files: no file snapshot is deleted: \(hold)") }
        for s in f.snapshots {
            out.append("  \(s.keep ? "keep  " : "delete")    file snapshot \(s.id)  \(s.kind) \(s.time)  \(s.reasons.joined(separator: "; "))")
        }
        let verb = dryRun ? "would delete" : "deleted"
        out.append("  files: \(verb) \(f.snapshotsDeleted) snapshot\(f.snapshotsDeleted == 1 ? "" : "s"); packs: \(f.packsDeleted) deleted, \(f.packsRewritten) rewritten (\(formatBytes(f.bytesCopied)) copied), \(formatBytes(f.bytesFreed)) freed")
        return out
    }

    static func windows(_ list: [ExpireWindow]) -> String {
        guard !list.isEmpty else { return "none" }
        return list.map { "timeline \($0.timeline) from \($0.from) to \($0.until ?? "the end of the archive") (backup \($0.backup))" }
            .joined(separator: "; ")
    }
}
