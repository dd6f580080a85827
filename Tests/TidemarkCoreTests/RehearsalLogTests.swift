import Testing
import TidemarkCore

@Suite("Rehearsal: log facts, check files, the recoverable window")
struct RehearsalLogTests {
    @Test("a promoted PITR: stop line, last completed transaction, ready")
    func successLog() throws {
        let log = """
            2026-11-26 18:36:14.001 UTC [100] LOG:  starting point-in-time recovery to 2026-11-26 18:36:10.726621+00
            2026-11-26 18:36:14.101 UTC [101] FATAL:  the database system is starting up
            2026-11-26 18:36:14.200 UTC [100] LOG:  recovery stopping before commit of transaction 742, time 2026-11-26 18:36:10.803973+00
            2026-11-26 18:36:14.201 UTC [100] LOG:  redo done at 0/5000398 system usage: CPU: user: 0.00 s
            2026-11-26 18:36:14.202 UTC [100] LOG:  last completed transaction was at log time 2026-11-26 18:36:10.72662+00
            2026-11-26 18:36:14.300 UTC [99] LOG:  database system is ready to accept connections
            """
        let facts = RecoveryLogFacts(parsing: log)
        #expect(facts.stop == .init(position: "before", verb: "commit", xid: 742, time: try PostgresTimestamp(parsing: "2026-11-26 18:36:10.803973+00")))
        #expect(facts.lastCompletedTime == (try PostgresTimestamp(parsing: "2026-11-26 18:36:10.72662+00")))
        #expect(facts.ready)
        #expect(facts.fatalLines.isEmpty, "connection attempts during start-up are noise: \(facts.fatalLines)")
        #expect(!facts.startupFailed)
    }

    @Test("read-only readiness of a hot standby is not promotion")
    func hotStandbyIsNotReady() {
        #expect(!RecoveryLogFacts(parsing: "LOG:  database system is ready to accept read-only connections").ready)
    }

    @Test("a damaged WAL object: wal-fetch's error names segment and object; startup failure seen")
    func fetchFailure() {
        let log = """
            tidemark wal-fetch: ERROR: the archived copy of '000000010000000000000005' at '/r/main/wal/0000000100000000/000000010000000000000005' is damaged: authentication failed
            2026-11-26 18:36:15.102 UTC [26820] FATAL:  could not restore file "000000010000000000000005" from archive: command not executable
            2026-11-26 18:36:15.110 UTC [26800] LOG:  startup process (PID 26820) exited with exit code 1
            2026-11-26 18:36:15.110 UTC [26800] LOG:  aborting startup due to startup process failure
            """
        let facts = RecoveryLogFacts(parsing: log)
        #expect(facts.failedSegment == "000000010000000000000005")
        #expect(facts.failedObject == "/r/main/wal/0000000100000000/000000010000000000000005")
        #expect(facts.startupFailed)
        #expect(facts.fatalLines.count == 1 && facts.fetchLines.count == 1)
        #expect(facts.stop == nil && facts.lastCompletedTime == nil && !facts.ready)
    }

    @Test("the LOG line before a FATAL is quoted with it")
    func reasonBeforeFatal() {
        let facts = RecoveryLogFacts(parsing: """
            2026-11-26 LOG:  Unix-domain socket path "/very/long/.s.PGSQL.5432" is too long (maximum 107 bytes)
            2026-11-26 FATAL:  could not create any Unix-domain sockets
            """)
        #expect(facts.fatalLines.count == 2 && facts.fatalLines[0].contains("too long"))
    }

    @Test("an xid stop after an abort")
    func stopAfterAbort() {
        let stop = RecoveryLogFacts.parseStop("after abort of transaction 9001, time 2026-11-26 18:36:10+00")
        #expect(stop?.position == "after" && stop?.verb == "abort" && stop?.xid == 9001)
        #expect(RecoveryLogFacts.parseStop("at restore point \"x\", time 2026-11-26 18:36:10+00") == nil)
    }

    @Test("check files: blocks, databases, multi-line expectations, no expectation")
    func checkFile() throws {
        let checks = try RehearsalCheck.parse("""
            -- Tidemark rehearsal checks
            -- name: orders
            -- database: shop
            select count(*)
              from orders;
            -- expect: 42

            -- name: two rows
            select 1, 'a' union all select 2, 'b' order by 1;
            -- expect: 1|a
            -- expect: 2|b
            -- name: runs
            select now();
            """)
        #expect(checks == [
            RehearsalCheck(name: "orders", database: "shop", sql: "select count(*)\n  from orders;", expected: "42"),
            RehearsalCheck(name: "two rows", sql: "select 1, 'a' union all select 2, 'b' order by 1;", expected: "1|a\n2|b"),
            RehearsalCheck(name: "runs", sql: "select now();", expected: nil),
        ])
    }

    @Test("check files: mistakes are errors with a line number",
          arguments: ["select 1;\n-- name: x\nselect 1;", "-- name: x\n-- expect: 1", "-- name: x\nselect 1;\n-- name: x\nselect 2;", "-- name:\nselect 1;"])
    func badCheckFile(_ text: String) {
        #expect(throws: RehearsalCheck.ParseError.self) { try RehearsalCheck.parse(text) }
    }

    @Test("the window starts a second after the stop time and ends before the last commit")
    func window() throws {
        let stop = try PostgresTimestamp(parsing: "2026-11-26 10:00:00.5+00")
        let last = try PostgresTimestamp(parsing: "2026-11-26 10:00:03+00")
        let w = try #require(RecoverableWindow(backupStop: stop, lastCommit: last))
        #expect(w.from == (try PostgresTimestamp(parsing: "2026-11-26 10:00:01+00")))
        var g = RehearsalRandom(seed: 7)
        for _ in 0..<1000 {
            let t = w.randomInstant(using: &g)
            #expect(t >= w.from && t < last)
        }
        var a = RehearsalRandom(seed: 42), b = RehearsalRandom(seed: 42)
        #expect(w.randomInstant(using: &a) == w.randomInstant(using: &b), "a seed replays the choice")
        #expect(RecoverableWindow(backupStop: stop, lastCommit: try PostgresTimestamp(parsing: "2026-11-26 10:00:01+00")) == nil)
    }
}
