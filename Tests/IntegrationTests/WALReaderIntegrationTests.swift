import Foundation
import Testing
import TidemarkCore
import TidemarkTesting

extension PostgreSQLIntegration {
    /// TidemarkCore's WAL reader reads real PostgreSQL 15 segments exactly as `pg_waldump` does.
    @Suite("WAL reader against pg_waldump")
    struct WALReaderIntegrationTests {
        @Test("every complete segment: same records, commits, aborts, restore points and checkpoints as pg_waldump",
              .timeLimit(.minutes(20)))
        func readerAgreesWithPgWaldump() async throws {
            let startedAt = Int64(Date().timeIntervalSince1970)
            let server = try await PostgresFixture(
                PostgresFixture.Options(configuration: [
                    "wal_level = replica",
                    "track_commit_timestamp = on",
                    "max_prepared_transactions = 5",
                    "wal_keep_size = '1GB'",
                    "max_wal_size = '1GB'",
                ]))
            defer { server.stop() }

            try await writeWorkload(server)
            let forced = try await forceCommitAcrossSegmentEnd(server)
            let lastComplete = try await server.switchWAL()
            let size = WALSegmentSize.default
            let names = try FileManager.default.contentsOfDirectory(atPath: server.walDirectory)
                .filter { WALNames.isSegmentName($0) && $0 <= lastComplete && $0.hasPrefix("00000001") }
                .sorted()
            #expect(names.count >= 4, "only \(names) in pg_wal")

            var scans: [WALSegmentScan] = []
            var stream = WALStreamReader(size: size)
            var streamEvents: [WALEvent] = []
            var streamRecords = 0
            var waldumpRecords = 0
            var elapsed: Duration = .zero
            for name in names {
                let segment = try #require(WALSegmentName(name))
                let data = try FileManager.default.readFile(server.walDirectory + "/" + name)
                let clock = ContinuousClock()
                var scan: WALSegmentScan?
                elapsed += clock.measure { scan = data.withUnsafeBytes { WALSegmentScan.scan($0, name: segment, size: size) } }
                let single = try #require(scan)
                scans.append(single)
                let streamed = data.withUnsafeBytes { stream.scan($0, name: segment) }
                streamEvents += streamed.events
                streamRecords += streamed.recordCount
                #expect(single.stopReason.isCleanEnd, "\(name): \(single.stopReason)")
                #expect(streamed.stopReason.isCleanEnd, "\(name) (stream): \(streamed.stopReason)")

                let dump = try await PgWaldump.run(server, arguments: [server.walDirectory + "/" + name])
                waldumpRecords += dump.recordCount
                #expect(single.recordCount == dump.recordCount, "\(name): record count")
                #expect(ComparableEvent.set(single.events) == dump.events,
                        "\(name): reader-only \(ComparableEvent.set(single.events).subtracting(dump.events).sorted()), pg_waldump-only \(dump.events.subtracting(ComparableEvent.set(single.events)).sorted())")
            }
            print("WAL reader: \(names.count) segments \(names.first ?? "-")...\(names.last ?? "-"), \(waldumpRecords) records, debug-build scan time \(elapsed)")

            // Records that straddle two segments: tail + head give what pg_waldump sees over the range.
            var joined: [WALEvent] = []
            var straddling = 0
            for (earlier, later) in zip(scans, scans.dropFirst()) where earlier.incompleteTail != nil {
                straddling += 1
                guard let tail = earlier.incompleteTail, tail.isCompletePrefix,
                      let head = later.continuationHead, head.bytes != nil
                else { continue }
                joined += try earlier.eventsCrossingBoundary(into: later)
            }
            #expect(straddling > 0, "no record crossed a segment boundary")
            #expect(joined.contains { $0.lsn == forced && $0.transactionEnd != nil }, "the commit at \(forced) across a segment end was not joined: \(joined)")

            let range = [server.walDirectory + "/" + (names.first ?? ""), server.walDirectory + "/" + lastComplete]
            let transactions = try await PgWaldump.run(server, arguments: ["-r", "Transaction"] + range)
            let xlog = try await PgWaldump.run(server, arguments: ["-r", "XLOG"] + range)
            let whole = transactions.events.union(xlog.events)
            let perSegment = ComparableEvent.set(scans.flatMap(\.events) + joined)
            #expect(perSegment.isSubset(of: whole), "\(perSegment.subtracting(whole).sorted())")
            // Only records too long for the 8 KiB tail/head limit may be missing from per-segment summaries.
            let missing = whole.subtracting(perSegment)
            #expect(missing.count <= straddling, "\(missing.sorted())")
            #expect(ComparableEvent.set(streamEvents) == whole,
                    "stream-only \(ComparableEvent.set(streamEvents).subtracting(whole).sorted()), pg_waldump-only \(whole.subtracting(ComparableEvent.set(streamEvents)).sorted())")
            // The stream counts a straddling record once, in the segment where it ends.
            let carried = scans.dropLast().filter { $0.incompleteTail != nil }.count
            #expect(streamRecords == waldumpRecords + carried)

            let kinds = Dictionary(grouping: whole, by: \.kind).mapValues(\.count)
            print("WAL reader: events over the range \(kinds)")
            for kind in ["commit", "abort", "commit prepared", "abort prepared", "restore point", "checkpoint"] {
                #expect(kinds[kind, default: 0] > 0, "no \(kind) in the WAL")
            }
            #expect(ComparableEvent.set(streamEvents).contains { $0.kind == "restore point" && $0.detail == "rp-reader-1" })

            // pg_waldump prints no checkpoint or restore point times: they must at least be now-ish.
            let finishedAt = Int64(Date().timeIntervalSince1970)
            for event in streamEvents {
                switch event {
                case .checkpoint(let c):
                    #expect((startedAt - 5...finishedAt + 5).contains(c.time), "checkpoint \(c.lsn) time \(c.time) (Unix seconds)")
                case .restorePoint(let r):
                    let unix = r.time / 1_000_000 + postgresEpochUnixSeconds
                    #expect((startedAt - 5...finishedAt + 5).contains(unix), "restore point \(r.name) time \(r.time)")
                default:
                    break
                }
            }

            // The commit times PostgreSQL itself recorded for our rows.
            let rows = try await server.psql(
                """
                select xmin, to_char(pg_xact_commit_timestamp(xmin) at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')
                from reader_rows where note like 'single-%' or note = 'prepared-commit'
                """)
            let commits = Dictionary(
                streamEvents.compactMap { e -> (UInt32, Int64)? in
                    if case .commit(let t) = e { return (t.xid, t.time) } else { return nil }
                }, uniquingKeysWith: { a, _ in a })
            var checked = 0
            for line in rows.split(separator: "\n") {
                let fields = line.split(separator: "|")
                guard fields.count == 2, let xid = UInt32(fields[0]), let time = PgWaldump.timestamp(String(fields[1]) + " UTC")
                else {
                    Issue.record("unexpected row \(line)")
                    continue
                }
                #expect(commits[xid] == time, "xid \(xid): reader \(commits[xid].map(String.init) ?? "none"), pg_xact_commit_timestamp \(time)")
                checked += 1
            }
            #expect(checked >= 11, "\(rows)")
        }

        /// Emits a logical message sized so that the following commit record starts 16 bytes
        /// before a segment end (its 24-byte header split across the two files); returns the
        /// commit's LSN. Retries when other WAL got in between.
        private func forceCommitAcrossSegmentEnd(_ server: PostgresFixture) async throws -> LSN {
            let segment = WALSegmentSize.default.rawValue
            let page: UInt64 = 8192
            for _ in 0..<5 {
                let insertText = try await server.psql("select pg_current_wal_insert_lsn()")
                let insert = try #require(LSN(insertText)).rawValue
                var end = (insert / segment + 1) * segment
                if end - insert < 4 * page { end += segment }
                let target = end - 16
                // Usable bytes between here and the target: every page start crossed costs a
                // 24-byte header, a segment start 40.
                let pagesCrossed = target / page - insert / page
                let segmentsCrossed = target / segment - insert / segment
                let room = Int(target - insert) - 24 * Int(pagesCrossed) - 16 * Int(segmentsCrossed)
                // Record: 24 header + 5 main-data header + 24 xl_logical_message + "tidemark\0".
                let payload = room - 24 - 5 - 24 - 9
                try await server.psql("select pg_logical_emit_message(true, 'tidemark', repeat('x', \(payload)))")
                let name = WALSegmentName(timeline: TimelineID(1), segment: target / segment, size: .default)
                let next = WALSegmentName(timeline: TimelineID(1), segment: target / segment + 1, size: .default)
                let first = try FileManager.default.readFile(server.walDirectory + "/\(name)").withUnsafeBytes {
                    WALSegmentScan.scan($0, name: name, size: .default)
                }
                let second = try FileManager.default.readFile(server.walDirectory + "/\(next)").withUnsafeBytes {
                    WALSegmentScan.scan($0, name: next, size: .default)
                }
                if first.incompleteTail?.lsn == LSN(target),
                   case .commit? = try? first.eventsCrossingBoundary(into: second).first
                {
                    return LSN(target)
                }
            }
            throw TestingError(.unexpectedOutput, "could not place a commit across a segment end")
        }

        private func writeWorkload(_ server: PostgresFixture) async throws {
            try await server.psql("create table reader_rows (id serial primary key, note text, big text)")
            try await server.psql("alter table reader_rows alter column big set storage external")
            for i in 1...10 {
                try await server.psql("insert into reader_rows (note) values ('single-\(i)')")
            }
            for i in 1...3 {
                try await server.psql("begin; insert into reader_rows (note) values ('aborted-\(i)'); rollback;")
            }
            // Explicit savepoints, and a commit with 3000 subtransactions (a commit record > 8 KiB).
            var savepoints = "begin;"
            for i in 1...60 { savepoints += " savepoint s\(i); insert into reader_rows (note) values ('sub-\(i)');" }
            savepoints += " rollback to savepoint s30; commit;"
            try await server.psql(savepoints)
            try await server.psql(
                """
                do $$ begin for i in 1..3000 loop
                  begin insert into reader_rows (note) values ('exc-' || i); exception when others then null; end;
                end loop; end $$
                """)
            try await server.psql("begin; insert into reader_rows (note) values ('prepared-commit'); prepare transaction 'reader-p1'")
            try await server.psql("commit prepared 'reader-p1'")
            try await server.psql("begin; insert into reader_rows (note) values ('prepared-abort'); prepare transaction 'reader-p2'")
            try await server.psql("rollback prepared 'reader-p2'")
            try await server.psql("select pg_create_restore_point('rp-reader-1')")
            try await server.psql("checkpoint")
            // Records spanning many pages: a 200 kB logical message, full-page images, toasted rows.
            try await server.psql("select pg_logical_emit_message(true, 'tidemark', repeat('x', 200000))")
            try await server.psql("insert into reader_rows (note, big) select 'big', string_agg(md5(g::text), '') from generate_series(1, 6000) g")
            try await server.pgbench(["-i", "-q", "-s", "8"])
            try await server.psql("select pg_create_restore_point('rp-reader-2')")
            try await server.pgbench(["-c", "2", "-j", "2", "-T", "4"])
            // A commit after the last switch's predecessor, so the last segment has one too.
            try await server.psql("insert into reader_rows (note) values ('single-last')")
        }
    }
}

/// One event reduced to what pg_waldump prints, so both sides compare as sets.
private struct ComparableEvent: Hashable, Comparable, CustomStringConvertible {
    var kind: String
    var lsn: LSN
    var xid: UInt32 = 0
    var time: Int64 = 0
    var detail: String = ""

    static func < (a: Self, b: Self) -> Bool { a.lsn < b.lsn }
    var description: String { "\(kind)@\(lsn) xid \(xid) t \(time) \(detail)" }

    static func set(_ events: [WALEvent]) -> Set<ComparableEvent> {
        Set(events.map { event in
            switch event {
            case .commit(let t):
                return ComparableEvent(kind: t.isPrepared ? "commit prepared" : "commit", lsn: t.lsn, xid: t.xid, time: t.time)
            case .abort(let t):
                return ComparableEvent(kind: t.isPrepared ? "abort prepared" : "abort", lsn: t.lsn, xid: t.xid, time: t.time)
            case .restorePoint(let r):
                return ComparableEvent(kind: "restore point", lsn: r.lsn, detail: r.name)
            case .checkpoint(let c):
                return ComparableEvent(
                    kind: "checkpoint", lsn: c.lsn,
                    detail: "\(c.isShutdown ? "shutdown" : "online") redo \(c.redo) tli \(c.timeline) prev \(c.previousTimeline)")
            case .segmentSwitch(let lsn):
                return ComparableEvent(kind: "switch", lsn: lsn)
            case .endOfRecovery(let e):
                return ComparableEvent(kind: "end of recovery", lsn: e.lsn, time: e.time)
            case .backupEnd(let lsn, let start):
                return ComparableEvent(kind: "backup end", lsn: lsn, detail: "\(start)")
            }
        })
    }
}

/// Runs PostgreSQL's `pg_waldump` (TZ=UTC) and parses the records this test compares.
private struct PgWaldump {
    var recordCount = 0
    var events: Set<ComparableEvent> = []

    static func run(_ server: PostgresFixture, arguments: [String]) async throws -> PgWaldump {
        let result = try await ChildProcess.run(
            Command(server.binDirectory + "/pg_waldump", arguments,
                    environment: Command.baseEnvironment(for: nil).merging(["TZ": "UTC"]) { $1 }, timeout: .seconds(300)))
        guard result.succeeded else {
            throw TestingError(.processFailed, "pg_waldump \(arguments) failed: \(result.stderrText.suffix(2000))")
        }
        var dump = PgWaldump()
        for line in result.stdoutText.split(separator: "\n") where line.hasPrefix("rmgr: ") {
            dump.recordCount += 1
            guard line.hasPrefix("rmgr: Transaction ") || line.hasPrefix("rmgr: XLOG ") else { continue }
            if let event = try parse(line) { dump.events.insert(event) }
        }
        return dump
    }

    /// `rmgr: Transaction len (rec/tot): 34/ 34, tx: 740, lsn: 0/0156F2A8, prev 0/0156F270, desc: COMMIT 2026-11-26 10:00:00.123456 UTC`
    private static func parse(_ line: Substring) throws -> ComparableEvent? {
        guard let lsnRange = line.range(of: ", lsn: "), let descRange = line.range(of: ", desc: "),
              let txRange = line.range(of: ", tx: ")
        else { throw TestingError(.unexpectedOutput, "unexpected pg_waldump line: \(line)") }
        let lsnText = line[lsnRange.upperBound...].prefix { $0 != "," }
        let txText = line[txRange.upperBound...].prefix { $0 != "," }.trimmingCharacters(in: .whitespaces)
        guard let lsn = LSN(lsnText), let tx = UInt32(txText) else {
            throw TestingError(.unexpectedOutput, "unexpected pg_waldump line: \(line)")
        }
        let desc = line[descRange.upperBound...]
        var words = desc.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard !words.isEmpty else { return nil }
        let op = words.removeFirst()
        if line.hasPrefix("rmgr: Transaction ") {
            let kind: String
            switch op {
            case "COMMIT": kind = "commit"
            case "ABORT": kind = "abort"
            case "COMMIT_PREPARED": kind = "commit prepared"
            case "ABORT_PREPARED": kind = "abort prepared"
            default: return nil
            }
            // COMMIT_PREPARED / ABORT_PREPARED: "<xid>: <time>"; the record's own xid is 0.
            var xid = tx
            if let first = words.first, first.hasSuffix(":"), let prepared = UInt32(first.dropLast()) {
                xid = prepared
                words.removeFirst()
            }
            guard words.count >= 3, let time = timestamp(words[0] + " " + words[1] + " " + words[2].trimmingCharacters(in: CharacterSet(charactersIn: ";")))
            else { throw TestingError(.unexpectedOutput, "no time in: \(line)") }
            return ComparableEvent(kind: kind, lsn: lsn, xid: xid, time: time)
        }
        switch op {
        case "RESTORE_POINT":
            return ComparableEvent(kind: "restore point", lsn: lsn, detail: String(desc.dropFirst("RESTORE_POINT ".count)))
        case "SWITCH":
            return ComparableEvent(kind: "switch", lsn: lsn)
        case "CHECKPOINT_ONLINE", "CHECKPOINT_SHUTDOWN":
            // "redo 0/1000028; tli 1; prev tli 1; fpw true; ..."
            let fields = desc.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 3, let redo = LSN(fields[0].split(separator: " ").last ?? ""),
                  fields[1].hasPrefix("tli "), fields[2].hasPrefix("prev tli ")
            else { throw TestingError(.unexpectedOutput, "unexpected checkpoint: \(line)") }
            let tli = fields[1].dropFirst(4)
            let prev = fields[2].dropFirst(9)
            return ComparableEvent(
                kind: "checkpoint", lsn: lsn,
                detail: "\(op == "CHECKPOINT_SHUTDOWN" ? "shutdown" : "online") redo \(redo) tli \(tli) prev \(prev)")
        default:
            return nil
        }
    }

    /// "2026-11-26 10:00:00.123456 UTC" → µs since 2000-01-01 UTC.
    static func timestamp(_ text: String) -> Int64? {
        let parts = text.split(separator: " ")
        guard parts.count == 3, parts[2] == "UTC" else { return nil }
        let date = parts[0].split(separator: "-").compactMap { Int64($0) }
        let clock = parts[1].split(separator: ":")
        guard date.count == 3, clock.count == 3, let hour = Int64(clock[0]), let minute = Int64(clock[1]) else { return nil }
        let secondParts = clock[2].split(separator: ".")
        guard let second = Int64(secondParts[0]) else { return nil }
        let micros = secondParts.count == 2 ? Int64(secondParts[1].padding(toLength: 6, withPad: "0", startingAt: 0)) : 0
        guard let micros else { return nil }
        // Days from the civil date (proleptic Gregorian), then seconds since 2000-01-01.
        let (y0, m, d) = (date[0], date[1], date[2])
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let unixDays = era * 146_097 + doe - 719_468
        let unixSeconds = unixDays * 86_400 + hour * 3600 + minute * 60 + second
        return (unixSeconds - 946_684_800) * 1_000_000 + micros
    }
}
