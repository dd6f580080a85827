#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension RecoveryTarget {
    /// `time 2026-11-26 14:30:00+00`, `LSN 0/3000028`, …
    public var words: String {
        switch self {
        case .immediate: return "the backup's consistency point (immediate)"
        case .latest: return "the end of the archive (latest)"
        case .time(let t): return "time \(t.postgresText)"
        case .lsn(let l): return "LSN \(l)"
        case .xid(let x): return "transaction \(x)"
        case .name(let n): return "restore point '\(n)'"
        }
    }

    package var kind: String {
        switch self {
        case .immediate: return "immediate"
        case .latest: return "latest"
        case .time: return "time"
        case .lsn: return "lsn"
        case .xid: return "xid"
        case .name: return "name"
        }
    }

    package var value: String? {
        switch self {
        case .immediate, .latest: return nil
        case .time(let t): return t.postgresText
        case .lsn(let l): return l.description
        case .xid(let x): return String(x)
        case .name(let n): return n
        }
    }
}

extension StopPoint {
    public var words: String {
        switch self {
        case .consistency(let l): return "as soon as the backup is consistent, at \(l)"
        case .endOfArchive(let l): return "at the end of the archived WAL, \(l)"
        case .before(let c): return "before the \(c.verb) of transaction \(c.xid) at \(c.time.postgresText) (LSN \(c.lsn))"
        case .after(let c): return "after the \(c.verb) of transaction \(c.xid) at \(c.time.postgresText) (LSN \(c.lsn))"
        case .restorePoint(let r): return "at restore point '\(r.name)' created \(r.time.postgresText) (LSN \(r.lsn))"
        case .lsn(let l, let inclusive): return inclusive ? "after the first record at or past \(l)" : "before the first record at or past \(l)"
        }
    }
}

package func mebibytes(_ bytes: UInt64) -> String {
    let m = Double(bytes) / 1_048_576
    return m >= 100 ? "\(Int(m.rounded())) MiB" : "\((m * 10).rounded() / 10) MiB"
}
