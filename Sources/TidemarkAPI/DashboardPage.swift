#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tidemark
import TidemarkAudit
import TidemarkCore
import TidemarkServer

/// `/admin/backup`: what /api/status and /api/admin/backup/list compute, as one page, most
/// important first (docs/api.md, "The dashboard").
struct DashboardPage {
    /// What /api/status says, from the values the page can have without reading the WAL
    /// archive again: the list's restorable windows, the service's newest snapshot, its state.
    struct Facts {
        struct Window { var timeline: UInt32; var from: String; var until: String; var backup: String }
        var pitrWindows: [String: [Window]] = [:]
        var service: ServiceFacts

        init(list: BackupList?, snapshot: StatusSnapshot?, state: ServiceState?) {
            for r in list?.repositories ?? [] {
                pitrWindows[r.name] = (r.restorable ?? []).map {
                    Window(timeline: $0.timeline, from: $0.from, until: $0.until ?? $0.from, backup: $0.backup)
                }
            }
            service = ServiceFacts(snapshot: snapshot, state: state)
        }
    }

    var status: Facts?
    var statusError: String?
    var list: BackupList?
    var listError: String?
    var state: ServiceState?
    var jobs: [ServiceJob]
    var session: DashboardSessions.Session
    var now: Date
    /// The history table's order and filter (`?sort=`, `?dir=`, `?q=`).
    var sort: String
    var descending: Bool
    var filter: String
    /// The history table's page (`?page=`, 1 first), `pageRows` rows each.
    var page: Int = 1
    /// When the backup list shown was read (DashboardListCache).
    var listReadAt: Date?
    /// The archive's restore points (DashboardRestorePoints), nil until the first scan ends.
    var restorePoints: [ArchivedRestorePoint]? = nil
    static let pageRows = 100

    typealias H = DashboardHTML

    var html: String {
        var body = ""
        body += timeline
        body += "<div class=\"grid\">" + recovery + lastBackups + "</div>"
        body += actions
        body += "<div class=\"grid\">" + schedule + storage + "</div>"
        body += failures
        body += history
        let header = "<form method=\"post\" action=\"/admin/logout\">\(H.csrfField(session.csrf))<span class=\"hint\" style=\"color:#cfd5de\">" +
            "\(H.escape(session.caller.name)) (\(H.escape(session.caller.scope.rawValue)))</span> <button type=\"submit\">Log out</button></form>"
        return H.page(title: "Backups", body: body, header: header)
    }

    var timeline: String {
        var windows = status?.pitrWindows ?? [:]
        if windows.isEmpty, let repos = list?.repositories {
            for r in repos { windows[r.name] = [] }
        }
        let rehearsal = state?.lastRehearsalSuccess.map { (time: $0.timeIntervalSince1970, rtoSeconds: state?.lastRehearsalRTOSeconds) }
        var t = DashboardTimeline(windows: windows, backups: list?.backups ?? [], now: now.timeIntervalSince1970, rehearsal: rehearsal)
        t.add(restorePoints: restorePoints ?? [])
        var gaps = ""
        for r in status?.service.snapshot?.repositories ?? [] {
            for tl in r.timelines where tl.gaps > 0 {
                gaps += "<p class=\"bad\">\(tl.gaps) WAL gap(s) on timeline \(tl.timeline) in \(H.escape(r.name)): tidemark info lists them</p>"
            }
        }
        var windowsText = ""
        for (repo, ws) in (status?.pitrWindows ?? [:]).sorted(by: { $0.key < $1.key }) {
            for w in ws {
                windowsText += "<li>\(H.escape(repo)), timeline \(w.timeline): \(H.escape(w.from)) → \(H.escape(w.until)) (from backup <code>\(H.escape(w.backup))</code>)</li>"
            }
        }
        let error = statusError.map { "<p class=\"bad\">status unavailable: \(H.escape($0))</p>" } ?? ""
        return "<section id=\"timeline\"><h2>Recovery timeline (last 90 days)</h2>\(error)\(t.svg)\(DashboardTimeline.legend)" +
            (windowsText.isEmpty ? "<p class=\"bad\">No restorable window.</p>" : "<ul class=\"hint\">\(windowsText)</ul>") + gaps + "</section>"
    }

    var recovery: String {
        let rpo = status?.service.rpoSeconds
        let lag = status?.service.archiveLagSegments
        let ready = status?.service.readySegments
        let rpoClass = rpo.map { $0 > 3600 ? "bad" : ($0 > 300 ? "warn" : "ok") } ?? ""
        return """
        <section id="recovery"><h2>Recovery point</h2>
        <div class="k">current RPO</div><div class="v \(rpoClass)" id="rpo">\(H.duration(rpo))</div>
        <div class="k">archive backlog</div><div class="v">\(lag.map { "\($0) segments behind" } ?? "—")\(ready.map { " · \($0) ready" } ?? "")</div>
        <div class="k">last verify</div><div>\(H.escape(status?.service.lastVerify ?? "never"))</div>
        <div class="k">last rehearsal</div><div>\(H.escape(status?.service.lastRehearsal ?? "never"))\(status?.service.lastRehearsalRTOSeconds.map { " · RTO " + H.duration($0) } ?? "")</div>
        </section>
        """
    }

    var lastBackups: String {
        var rows = ""
        for kind in ["full", "incremental"] {
            guard let b = list?.backups.filter({ $0.type == kind }).max(by: { $0.stopTime < $1.stopTime }) else {
                rows += "<tr><td>\(kind)</td><td colspan=\"4\" class=\"warn\">none</td></tr>"
                continue
            }
            let age = DashboardTimeline.seconds(b.stopTime).map { now.timeIntervalSince1970 - $0 }
            rows += "<tr><td>\(kind)</td><td><code>\(H.escape(b.id))</code><br><span class=\"hint\">\(H.duration(age)) ago</span></td>" +
                "<td>\(H.duration(b.durationSeconds))</td><td>\(H.bytes(b.size))</td><td>\(H.escape(status?.service.lastVerify.map { "verified " + $0 } ?? "not verified"))</td></tr>"
        }
        return "<section id=\"last\"><h2>Last backups</h2><div class=\"scroll\"><table><tr><th>kind</th><th>backup</th><th>took</th><th>size</th><th>verify</th></tr>\(rows)</table></div></section>"
    }

    var actions: String {
        let operate = session.caller.scope == .operate
        var forms = ""
        for (action, label) in [("full", "Create full backup"), ("incremental", "Create incremental backup"), ("verify", "Verify"), ("rehearse", "Rehearse restore")] {
            forms += "<form method=\"post\" action=\"/admin/backup/action\">\(H.csrfField(session.csrf))<input type=\"hidden\" name=\"action\" value=\"\(action)\">" +
                "<button type=\"submit\" id=\"action-\(action)\"\(operate ? "" : " disabled")>\(label)</button></form>"
        }
        let note = operate ? "" : "<p class=\"hint\">This token has scope read: the buttons need a token with scope operate.</p>"
        return "<section id=\"actions\"><h2>Actions</h2><div class=\"actions\">\(forms)</div>\(note)</section>"
    }

    var schedule: String {
        var rows = ""
        for job in jobs {
            let next = job.enabled ? job.schedule.next(after: now).map { AuditTime.format($0) } ?? "—" : "disabled"
            let record = state?.jobs[job.name]
            rows += "<tr><td>\(H.escape(job.name))</td><td>\(H.escape(next))</td><td>\(H.escape(record?.lastOutcome ?? "—"))</td></tr>"
        }
        if rows.isEmpty { rows = "<tr><td colspan=\"3\" class=\"hint\">no scheduled jobs</td></tr>" }
        return "<section id=\"schedule\"><h2>Schedule</h2><table><tr><th>job</th><th>next run</th><th>last</th></tr>\(rows)</table></section>"
    }

    var storage: String {
        var rows = ""
        for r in status?.service.snapshot?.repositories ?? [] {
            var used = H.bytes(r.usedBytes), note = ""
            if let u = r.usedBytes, let c = r.capacityBytes ?? r.freeBytes.map({ $0 + u }), c > 0 {
                let percent = Double(u) / Double(c) * 100
                used += " of \(H.bytes(c)) (\(Int(percent.rounded())) %)"
                if percent >= 80 { note = "<span class=\"bad\">over 80 %: expire or add space</span>" }
            }
            rows += "<tr><td>\(H.escape(r.name))</td><td>\(used) \(note)</td><td>\(H.bytes(r.freeBytes))</td></tr>"
        }
        if rows.isEmpty {
            for r in list?.repositories ?? [] {
                rows += "<tr><td>\(H.escape(r.name))</td><td colspan=\"2\" class=\"hint\">\(r.backups) backups; usage not measured yet</td></tr>"
            }
        }
        return "<section id=\"storage\"><h2>Storage</h2><table><tr><th>repository</th><th>used</th><th>free</th></tr>\(rows)</table></section>"
    }

    var failures: String {
        var items = ""
        for (name, r) in (state?.jobs ?? [:]).sorted(by: { $0.key < $1.key }) where r.lastOutcome != nil && r.lastOutcome != "succeeded" {
            items += "<li><b>\(H.escape(name))</b> \(H.escape(r.lastOutcome ?? "")) \(H.escape(r.lastFinished.map { AuditTime.format($0) } ?? "")): " +
                "\(H.escape(r.lastError ?? ""))\((r.lastHints ?? []).map { "<br><span class=\"hint\">HINT: \(H.escape($0))</span>" }.joined())</li>"
        }
        for f in list?.failures ?? [] {
            items += "<li>\(H.escape(f.message))\(f.hints.map { "<br><span class=\"hint\">HINT: \(H.escape($0))</span>" }.joined())</li>"
        }
        if let e = listError { items += "<li>backup list unavailable: \(H.escape(e))</li>" }
        return "<section id=\"failures\"><h2>Recent failures</h2>" + (items.isEmpty ? "<p class=\"ok\">none</p>" : "<ul>\(items)</ul>") + "</section>"
    }

    var history: String {
        var backups = list?.backups ?? []
        let q = filter.lowercased()
        if !q.isEmpty {
            backups = backups.filter { ($0.id + " " + $0.type + " " + $0.label + " " + $0.repository).lowercased().contains(q) }
        }
        func less(_ a: BackupListEntry, _ b: BackupListEntry) -> Bool {
            switch sort {
            case "type": return (a.type, a.stopTime) < (b.type, b.stopTime)
            case "size": return a.size < b.size
            case "duration": return a.durationSeconds < b.durationSeconds
            case "repository": return (a.repository, a.stopTime) < (b.repository, b.stopTime)
            default: return a.stopTime < b.stopTime
            }
        }
        backups.sort { descending ? less($1, $0) : less($0, $1) }
        func head(_ key: String, _ label: String, _ cls: String = "") -> String {
            let dir = sort == key && descending ? "asc" : "desc"
            return "<th\(cls)><a href=\"/admin/backup?sort=\(key)&amp;dir=\(dir)&amp;q=\(H.escape(Self.queryEscape(filter)))#history\">\(label)</a></th>"
        }
        let pages = max(1, (backups.count + Self.pageRows - 1) / Self.pageRows)
        let shown = min(page, pages)
        var rows = ""
        for b in backups.dropFirst((shown - 1) * Self.pageRows).prefix(Self.pageRows) {
            let pinned = b.retention?.reasons.first { $0.hasPrefix("pinned") }
            rows += "<tr class=\"backup\"><td><code>\(H.escape(b.id))</code></td><td>\(H.escape(b.type))\(pinned.map { " · " + H.escape($0) } ?? "")</td>" +
                "<td>\(H.escape(b.stopTime))</td><td>\(H.bytes(b.size))</td><td class=\"hide-s\">\(H.duration(b.durationSeconds))</td>" +
                "<td class=\"hide-s\">\(H.escape(b.repository))</td><td class=\"hide-s\">\(H.escape(b.label))</td></tr>"
        }
        func link(_ p: Int, _ label: String, _ id: String) -> String {
            "<a id=\"\(id)\" href=\"/admin/backup?sort=\(H.escape(sort))&amp;dir=\(descending ? "desc" : "asc")&amp;q=\(H.escape(Self.queryEscape(filter)))&amp;page=\(p)#history\">\(label)</a>"
        }
        var pager = pages > 1 ? "<p class=\"hint\" id=\"pager\">page \(shown) of \(pages) (\(Self.pageRows) rows each)" : ""
        if shown > 1 { pager += " · " + link(shown - 1, "previous", "page-previous") }
        if shown < pages { pager += " · " + link(shown + 1, "next", "page-next") }
        if pages > 1 { pager += "</p>" }
        let age = listReadAt.map { "<p class=\"hint\" id=\"list-age\">read from the repositories \(H.duration(max(0, now.timeIntervalSince($0)))) ago (at most 15 s before a reload reads them again; at once after a job)</p>" } ?? ""
        let form = "<form method=\"get\" action=\"/admin/backup\"><input type=\"search\" name=\"q\" value=\"\(H.escape(filter))\" placeholder=\"filter: id, type, label\">" +
            "<input type=\"hidden\" name=\"sort\" value=\"\(H.escape(sort))\"> <button type=\"submit\">Filter</button></form>"
        return "<section id=\"history\"><h2>Backup history (\(backups.count))</h2>\(form)<div class=\"scroll\"><table id=\"backups\"><tr>" +
            head("time", "id / finished") + head("type", "type") + "<th>finished</th>" + head("size", "size") + head("duration", "took", " class=\"hide-s\"") +
            head("repository", "repository", " class=\"hide-s\"") + "<th class=\"hide-s\">label</th></tr>\(rows)</table></div>\(pager)\(age)</section>"
    }

    static func queryEscape(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            if (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte == 45 || byte == 95 {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = Array("0123456789ABCDEF")
                out += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 15)])
            }
        }
        return out
    }
}
