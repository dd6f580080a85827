import TidemarkCodec
import TidemarkCore
import TidemarkPolicy
import TidemarkRepository
import TidemarkStorage

extension VerifyRun {
    /// The WAL's continuity per timeline, its history files and the restorable windows
    /// (`WALContinuity`, pure), from what the scan found: a segment that is damaged counts as
    /// missing, because recovery stops at it all the same.
    package func checkContinuity(_ scan: Scan, into report: inout VerifyRepositoryReport) async {
        guard let identity = scan.identity, let size = WALSegmentSize(rawValue: identity.walSegmentSize) else { return }
        var backups = scan.backups
        var oldestSegment: UInt64?
        switch options.scope {
        case .all, .wal:
            break
        case .backup(let id):
            backups = backups.filter { $0.id == id }
        case .since(let instant):
            backups = backups.filter { (try? PostgresTimestamp(parsing: $0.stopTime)).map { $0 >= instant } ?? true }
            oldestSegment = backups.map { $0.startLSN.rawValue / size.rawValue }.min()
            if oldestSegment == nil { return }
        }
        var segments: [TimelineID: Set<SegmentNumber>] = [:]
        var lastCompletion: [WALSegmentName: PostgresTimestamp] = [:]
        var histories: [TimelineHistory] = []
        for (key, entry) in scan.listed {
            switch entry.object {
            case .wal(.segment(let s)):
                if case .bad = scan.results[key] { continue }
                guard let n = s.segmentNumber(size: size) else { continue }
                if let oldest = oldestSegment, n < oldest { continue }
                segments[s.timeline, default: []].insert(n)
                if let t = scan.ledger.entries[key]?.lastCompletion { lastCompletion[s] = t }
            case .wal(.history(let timeline)):
                if case .good(let outcome) = scan.results[key], let h = outcome.history {
                    histories.append(h)
                } else if case .bad = scan.results[key] {
                    continue
                } else if let h = await readHistory(key, timeline: timeline) {
                    histories.append(h)
                }
            default:
                continue
            }
        }
        report.segmentsChecked = segments.values.reduce(0) { $0 + $1.count }
        let input = ContinuityInput(
            segmentSize: size, segments: segments, histories: histories,
            backups: backups.compactMap { b in
                guard let stop = try? PostgresTimestamp(parsing: b.stopTime) else { return nil }
                return ContinuityBackup(id: b.id.rawValue, timeline: TimelineID(b.timeline), startLSN: b.startLSN, stopLSN: b.stopLSN,
                                        stopTimeline: TimelineID(b.stopTimeline), stopTime: stop)
            },
            lastCompletion: lastCompletion)
        let result = WALContinuity.analyze(input)
        var gaps = result.gaps
        if case .backup(let id) = options.scope { gaps = gaps.filter { $0.breaks.contains(id.rawValue) } }
        for gap in gaps {
            report.gaps.append(VerifyGap(timeline: gap.timeline.rawValue, from: gap.from.description, to: gap.to.description,
                                         segments: gap.segments, breaks: gap.breaks,
                                         window: [gap.window?.from?.postgresText, gap.window?.to?.postgresText]))
            let range = gap.segments == 1 ? "segment \(gap.from) is" : "segments \(gap.from) … \(gap.to) (\(gap.segments)) are"
            var message = "WAL gap on timeline \(gap.timeline.rawValue): \(range) missing"
            if !gap.breaks.isEmpty { message += "; backups that can no longer be restored: \(gap.breaks.joined(separator: ", "))" }
            if let w = gap.window {
                message += "; instants no longer restorable: from \(w.from?.postgresText ?? "the oldest backup") to \(w.to?.postgresText ?? "the end of the archive")"
            }
            report.problems.append(VerifyProblem(.gap, object: RepositoryLayout.wal(stanza, .segment(gap.from)), message,
                                                 hint: "fetch the missing segments from another repository (`tidemark verify --repair`) or from pg_wal on the server; if they are gone for good, take a full backup (`tidemark backup --type full`) so that instants after the gap are restorable again"))
        }
        if case .backup = options.scope {} else {
            for timeline in result.missingHistories {
                let file = WALFileName.history(timeline)
                report.missingHistories.append(timeline.rawValue)
                report.problems.append(VerifyProblem(.missingHistory, object: RepositoryLayout.wal(stanza, file),
                                                     "timeline \(timeline.rawValue) has no history file \(file) in the archive: recovery cannot follow it",
                                                     hint: "archive it again from the server that created the timeline: `tidemark wal-push pg_wal/\(file)` as the server user"))
            }
        }
        report.windows = result.windows.map {
            VerifyWindow(timeline: $0.timeline.rawValue, from: $0.from.postgresText, to: $0.to.postgresText, backup: $0.backup)
        }
    }

    /// A history file's timelines, or nil when it does not read (its object check reports it).
    private func readHistory(_ key: String, timeline: TimelineID) async -> TimelineHistory? {
        guard let bytes = try? await repository.store.get(key),
              let plain = try? EnvelopeReader.decode(bytes, key: repository.key).plaintext else { return nil }
        return try? TimelineHistory(timeline: timeline, parsing: plain)
    }
}
