#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tidemark
import TidemarkAudit
import TidemarkCore

/// The recovery timeline: one bar per timeline over the last 90 days (inline SVG), the
/// restorable windows shaded green, the stretches between them red, backups as marks (full,
/// incremental, pinned), restore points as pins on their timeline's bar, the last rehearsal as
/// a pin with its measured RTO.
struct DashboardTimeline {
    struct Mark { var time: Double; var kind: String; var label: String }
    struct Row { var timeline: UInt32; var windows: [(Double, Double)]; var marks: [Mark]; var points: [Mark] = [] }

    var rows: [Row]
    var start: Double
    var end: Double
    var rehearsal: (time: Double, rtoSeconds: Double?)?

    static let days = 90.0

    static func seconds(_ text: String) -> Double? { (try? PostgresTimestamp(parsing: text))?.unixSeconds }

    init(windows: [String: [DashboardPage.Facts.Window]], backups: [BackupListEntry], now: Double,
         rehearsal: (time: Double, rtoSeconds: Double?)?) {
        end = now
        start = now - Self.days * 86400
        self.rehearsal = rehearsal
        var byTimeline: [UInt32: Row] = [:]
        for w in windows.values.flatMap({ $0 }) {
            guard let f = Self.seconds(w.from), let u = Self.seconds(w.until) else { continue }
            byTimeline[w.timeline, default: Row(timeline: w.timeline, windows: [], marks: [])].windows.append((f, u))
        }
        for b in backups {
            guard let t = Self.seconds(b.stopTime) else { continue }
            let pinned = b.retention?.reasons.contains { $0.hasPrefix("pinned") } == true
            let kind = pinned ? "pinned" : (b.type == "full" ? "full" : "incremental")
            byTimeline[b.timeline, default: Row(timeline: b.timeline, windows: [], marks: [])]
                .marks.append(Mark(time: t, kind: kind, label: "\(b.id) (\(kind)) \(b.stopTime)"))
        }
        rows = byTimeline.values.sorted { $0.timeline < $1.timeline }.map { row in
            var r = row
            r.windows = Self.merged(r.windows)
            return r
        }
    }

    /// Restore points as pins on their timeline (a timeline with no window or backup gets its row).
    mutating func add(restorePoints: [ArchivedRestorePoint]) {
        for p in restorePoints where p.time >= start {
            let mark = Mark(time: p.time, kind: "restore-point",
                            label: "restore point '\(p.name)' \(AuditTime.format(Date(timeIntervalSince1970: p.time))) at \(p.lsn): restore --target-name")
            if let i = rows.firstIndex(where: { $0.timeline == p.timeline }) {
                rows[i].points.append(mark)
            } else {
                rows.append(Row(timeline: p.timeline, windows: [], marks: [], points: [mark]))
                rows.sort { $0.timeline < $1.timeline }
            }
        }
    }

    /// Overlapping windows (one per repository) as one.
    static func merged(_ windows: [(Double, Double)]) -> [(Double, Double)] {
        var out: [(Double, Double)] = []
        for w in windows.sorted(by: { $0.0 < $1.0 }) {
            if let last = out.last, w.0 <= last.1 { out[out.count - 1].1 = max(last.1, w.1) } else { out.append(w) }
        }
        return out
    }

    func x(_ t: Double) -> Double {
        let width = 1000.0
        return ((min(max(t, start), end) - start) / (end - start) * width * 10).rounded() / 10
    }

    var svg: String {
        let rowHeight = 34.0, top = 18.0
        let height = top + Double(max(rows.count, 1)) * rowHeight + 22
        var s = "<svg viewBox=\"0 0 1060 \(Int(height))\" role=\"img\" aria-label=\"recovery timeline, last 90 days\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"11\">"
        // Week ticks, labelled every 30 days.
        for d in stride(from: 0, through: Int(Self.days), by: 15) {
            let xx = x(start + Double(d) * 86400) + 50
            s += "<line x1=\"\(xx)\" y1=\"\(top - 4)\" x2=\"\(xx)\" y2=\"\(height - 18)\" stroke=\"#e3e6ea\"/>"
            let label = d == Int(Self.days) ? "now" : "-\(Int(Self.days) - d) d"
            s += "<text x=\"\(xx)\" y=\"\(height - 4)\" text-anchor=\"middle\" fill=\"#5b6575\">\(label)</text>"
        }
        if rows.isEmpty {
            s += "<text x=\"60\" y=\"\(top + 18)\" fill=\"#c53030\">no backup: nothing is restorable</text>"
        }
        for (i, row) in rows.enumerated() {
            let y = top + Double(i) * rowHeight
            s += "<text x=\"0\" y=\"\(y + 15)\" fill=\"#1d2430\">TL \(row.timeline)</text>"
            s += "<rect x=\"50\" y=\"\(y + 4)\" width=\"1000\" height=\"14\" fill=\"#eef0f3\"/>"
            for (a, b) in zip(row.windows, row.windows.dropFirst()) where b.0 > a.1 && b.0 > start {
                s += rect(a.1, b.0, y: y + 4, fill: "#c53030", title: "gap: not restorable between these windows")
            }
            for w in row.windows where w.1 > start {
                let title = "restorable \(AuditTime.format(Date(timeIntervalSince1970: w.0))) – \(AuditTime.format(Date(timeIntervalSince1970: w.1)))"
                s += rect(w.0, w.1, y: y + 4, fill: "#2f8f4e", title: title, opacity: "0.75")
            }
            for m in row.marks where m.time >= start {
                let color = m.kind == "pinned" ? "#7b3fb0" : (m.kind == "full" ? "#2b5fab" : "#6b8fd6")
                let h = m.kind == "incremental" ? 10.0 : 16.0
                s += "<rect class=\"mark-\(m.kind)\" x=\"\(x(m.time) + 49)\" y=\"\(y + 11 - h / 2)\" width=\"2.5\" height=\"\(h)\" fill=\"\(color)\"><title>\(DashboardHTML.escape(m.label))</title></rect>"
            }
            for p in row.points {
                let xx = x(p.time) + 50
                s += "<path class=\"mark-restore-point\" d=\"M\(xx) \(y + 4) l-4 -7 h8 z\" fill=\"#0f766e\"><title>\(DashboardHTML.escape(p.label))</title></path>"
            }
        }
        if let r = rehearsal, r.time >= start {
            let xx = x(r.time) + 50
            let rto = r.rtoSeconds.map { "RTO " + DashboardHTML.duration($0) } ?? "rehearsal"
            s += "<path d=\"M\(xx) \(top - 2) l-4 -8 h8 z\" fill=\"#b7791f\"><title>rehearsal \(DashboardHTML.escape(rto))</title></path>"
            s += "<text x=\"\(min(xx + 6, 1000))\" y=\"\(top - 6)\" fill=\"#b7791f\">\(DashboardHTML.escape(rto))</text>"
        }
        return s + "</svg>"
    }

    func rect(_ a: Double, _ b: Double, y: Double, fill: String, title: String, opacity: String = "1") -> String {
        let x0 = x(a) + 50, w = max(x(b) - x(a), 1.5)
        return "<rect x=\"\(x0)\" y=\"\(y)\" width=\"\(w)\" height=\"14\" fill=\"\(fill)\" fill-opacity=\"\(opacity)\"><title>\(DashboardHTML.escape(title))</title></rect>"
    }

    static let legend = """
    <div class="legend"><span><i class="sw" style="background:#2f8f4e"></i>restorable</span><span><i class="sw" style="background:#c53030"></i>gap</span>\
    <span><i class="sw" style="background:#2b5fab"></i>full</span><span><i class="sw" style="background:#6b8fd6"></i>incremental</span>\
    <span><i class="sw" style="background:#7b3fb0"></i>pinned</span><span><i class="sw" style="background:#0f766e"></i>restore point</span>\
    <span><i class="sw" style="background:#b7791f"></i>rehearsal (RTO)</span></div>
    """
}
