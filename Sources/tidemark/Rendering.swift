#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tidemark
import TidemarkArchive
import TidemarkBackup
import TidemarkCore
import TidemarkRetention

// The text forms of what the engine returns: what `list`, `info` and `rehearse` print.

extension InfoReport {
    /// Human-readable form.
    public func rendered() -> String {
        var out: [String] = []
        for r in repositories {
            out.append("repository \(r.name): \(r.path) (\(r.type), \(r.required ? "required" : "optional"))")
            if let error = r.error {
                out.append("  UNAVAILABLE: \(error)")
                continue
            }
            out.append("  format v\(r.formatVersion), created \(r.created), \(r.cipher), key \(r.keyID) (\(r.kdf))")
        }
        if stanzas.isEmpty { out.append("no stanzas yet: nothing has been archived") }
        for s in stanzas {
            out.append("stanza \(s.name) [\(s.repository)]: system identifier \(s.systemIdentifier ?? "unknown"), PostgreSQL \(s.postgresVersion.map(String.init) ?? "?"), wal_segment_size \(s.walSegmentSize.map { "\($0 >> 20) MiB" } ?? "?")")
            out.append("  WAL: \(s.wal.segments) segments, \(formatBytes(s.wal.storedBytes)) stored, \(s.wal.historyFiles.count) history, \(s.wal.backupHistoryFiles) backup, \(s.wal.partialFiles) partial")
            for t in s.wal.timelines {
                out.append("  timeline \(t.timeline): \(t.first) ... \(t.last) (\(t.segments) segments)" + (t.gaps.isEmpty ? "" : ", missing: " + t.gaps.joined(separator: ", ")))
            }
            for w in s.restorable ?? [] {
                out.append("  restorable on timeline \(w.timeline): \(w.from) ... \(w.until) (from backup \(w.backup))")
            }
            if let e = s.restorableError { out.append("  restorable window unknown: \(e)") }
            if s.restorable?.isEmpty == true && s.restorableError == nil { out.append("  restorable: nothing yet (no backup reaches an archived commit)") }
            if let r = s.retention {
                let p = r.policy
                out.append("  retention (\(p.daily) daily, \(p.weekly) weekly, \(p.monthly) monthly, \(p.yearly) yearly, \(p.pitrDays)-day PITR window): \(r.backups.count - r.toDelete) backups kept, \(r.toDelete) deleted by the next `tidemark expire`" + (r.hold.map { "; the next expire deletes nothing: \($0)" } ?? ""))
                for b in r.backups { out.append("    \(b.id)  \(b.keep ? "keep" : "expire"): \(b.reasons.joined(separator: "; "))") }
            }
            if let e = s.retentionError { out.append("  retention unknown: \(e)") }
        }
        for a in alerts {
            out.append("ALERT: repository \(a.repository) lacks \(a.file) (missed \(a.recorded): \(a.error))")
        }
        return out.joined(separator: "\n")
    }
}

extension BackupList {
    public func rendered() -> String {
        var out: [String] = []
        for r in repositories where r.error != nil {
            out.append("repository \(r.name) (\(r.location)) could not be read: \(r.error ?? "")")
        }
        guard !backups.isEmpty else { return (out + ["no backups yet: run `tidemark backup`"]).joined(separator: "\n") }
        var rows = [["id", "type", "parent", "start (UTC)", "stop (UTC)", "LSN range", "tl", "db size", "stored", "duration", "repository", "retention"]]
        for b in backups {
            let retention = b.retention.map { ($0.keep ? "keep: " : "expire: ") + $0.reasons.joined(separator: "; ") } ?? "?"
            rows.append([b.id, b.type, b.parent ?? "-", b.startTime, b.stopTime, "\(b.startLSN)-\(b.stopLSN)", String(b.timeline),
                         formatBytes(b.size), formatBytes(b.storedSize), String(Int(b.durationSeconds.rounded())) + " s", b.repository,
                         retention])
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        out += rows.map { row in
            row.enumerated().map { $0.element + String(repeating: " ", count: widths[$0.offset] - $0.element.count) }
                .joined(separator: "  ").trimmingTrailingSpaces()
        }
        for r in repositories where r.error == nil {
            if let hold = r.retentionHold { out.append("repository \(r.name): the next expire deletes nothing: \(hold)") }
            for w in r.restorable ?? [] {
                out.append("repository \(r.name): restorable on timeline \(w.timeline) from \(w.from) to \(w.until ?? "the end of the archive") (backup \(w.backup))")
            }
        }
        return out.joined(separator: "\n")
    }
}


extension RehearsalReport {
    /// A few lines a DBA can read at 3 a.m.
    public func rendered() -> String {
        var out: [String] = []
        func row(_ k: String, _ v: String) { out.append("  " + k.padding(toLength: 13, withPad: " ", startingAt: 0) + v) }
        out.append("Rehearsal \(passed ? "PASS" : "FAIL")  (seed \(seed); `--seed \(seed)` repeats the choices)")
        for f in failures { out.append("  FAIL: " + f) }
        if let b = backup {
            row("backup", "\(b.id) (\(b.type), \(b.chosen)), consistent at \(b.stopLSN) (\(b.stopTime)), timeline \(b.timeline)")
        }
        if let t = target {
            var text = t.kind + (t.value.map { " " + $0 } ?? "")
            if t.chosen == "random", let f = t.windowFrom, let u = t.windowUntil { text += " (random instant in \(f) … \(u))" }
            if t.chosen == "latest" { text += " (no commit after the backup: replayed to the end of the archive)" }
            row("target", text)
        }
        if let p = predicted {
            row("predicted", "stop \(p.stop)")
            if let c = p.lastCommit { row("", "last \(c.kind): transaction \(c.xid) at \(c.time)") } else { row("", "no commit replayed before the stop") }
        }
        if let r = recovery {
            if let s = r.stopLine { row("actual", s.trimmed) }
            if let t = r.lastCommitTime { row(r.stopLine == nil ? "actual" : "", "last completed transaction at \(t)") }
            if !r.completed && r.stopLine == nil && r.lastCommitTime == nil { row("actual", "recovery did not complete") }
            if let m = r.matchesPlan { row("match", m ? "yes: the last replayed commit is the predicted one" : "NO") }
            if let o = r.failedObject ?? r.failedSegment { row("object", o) }
            for line in r.logExcerpt.prefix(12) { row("log", line) }
        }
        let failed = checks.filter { $0.status == "fail" }
        let skipped = checks.filter { $0.status == "skip" }.count
        row("checks", "\(checks.count - failed.count - skipped) passed, \(failed.count) failed, \(skipped) skipped")
        for c in checks where c.status != "pass" {
            var text = "\(c.status.uppercased()) \(c.kind) '\(c.name)'" + (c.database.map { " in \($0)" } ?? "")
            if c.status == "fail", c.expected != nil || c.actual != nil {
                text += ": expected \(quoted(c.expected)), got \(quoted(c.actual))"
            }
            if let d = c.detail { text += ": " + d }
            row("", text)
        }
        row("RTO", "\(seconds(rto.totalSeconds)) (restore \(seconds(rto.restoreSeconds)), replay \(seconds(rto.replaySeconds))); "
            + "\(mebibytes(UInt64(max(0, restoredBytes)))) restored, \(mebibytes(walReplayBytes)) of WAL in \(walSegments) segments")
        if let s = scratch { row("scratch", kept ? "kept: \(s)" + (port.map { " (port \($0))" } ?? "") : "removed (\(s))") }
        return out.joined(separator: "\n")
    }
}
