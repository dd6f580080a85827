import Foundation
import PostgresReplication
import Synchronization
import Testing
import TidemarkCore
import TidemarkTesting

extension ReplicationServerTests {
    @Suite("Replication connection against PostgreSQL 15")
    struct ConnectionTests {
        @Test("IDENTIFY_SYSTEM, SHOW, SQL, notices and TIMELINE_HISTORY on one replication=database connection",
              .timeLimit(.minutes(3)))
        func informationalCommands() async throws {
            let server = try await PostgresFixture()
            let heard = Mutex<[String]>([])
            let connection = try await ReplicationConnection.connect(
                conninfo: server.conninfo(), timeout: .seconds(20),
                onNotice: { notice in heard.withLock { $0.append(notice.message) } })

            #expect((150000..<160000).contains(connection.serverVersionNumber))
            #expect(connection.target.contains("port=\(server.port)"))
            let identity = try await connection.identifySystem()
            #expect(identity.systemIdentifier == UInt64(try await server.systemIdentifier()))
            #expect(identity.timeline == TimelineID(1))
            #expect(identity.xlogPosition > LSN.zero)
            #expect(identity.database == "postgres")

            #expect(try await connection.show("wal_segment_size") == "16MB")
            #expect(try await connection.show("server_version_num").hasPrefix("15"))
            await #expect(throws: ReplicationError.self) { try await connection.show("x; drop table y") }

            #expect(try await connection.simpleQuery("select 1, null::text, 'it''s'") == [["1", nil, "it's"]])
            #expect(try await connection.simpleQuery("""
                create table t (a int); insert into t values (2), (1); select a from t order by a
                """) == [["1"], ["2"]])
            #expect(try await connection.simpleQuery("create table u (a int)") == [])
            let failure = await #expect(throws: ReplicationError.self) {
                try await connection.simpleQuery("select * from no_such_table")
            }
            #expect(failure?.code == .queryFailed)
            #expect(failure?.sqlState == "42P01")
            #expect(failure?.message.contains("no_such_table") == true)
            #expect(try await connection.simpleQuery("select 2") == [["2"]], "usable after a server error")

            _ = try await connection.simpleQuery("do $$ begin raise notice 'hello from plpgsql'; end $$")
            let notices = connection.takeNotices()
            #expect(notices.contains { $0.message == "hello from plpgsql" && $0.severity == "NOTICE" })
            #expect(heard.withLock { $0 }.contains("hello from plpgsql"))
            #expect(connection.takeNotices().isEmpty)

            let missing = await #expect(throws: ReplicationError.self) {
                try await connection.timelineHistory(TimelineID(1))
            }
            #expect(missing?.code == .queryFailed)
            // TIMELINE_HISTORY serves whatever history file pg_wal holds: plant one, byte-exact.
            let history = Array("1\t0/3000000\tno recovery target specified\n\u{1}\u{ff}".utf8)
            try FileManager.default.writeFile(
                server.walDirectory + "/00000002.history", Data(history), mode: 0o600, owner: server.user)
            let fetched = try await connection.timelineHistory(TimelineID(2))
            #expect(fetched.fileName == "00000002.history")
            #expect(fetched.content == history)

            connection.close()
            connection.close()
            #expect(connection.isClosed)
            let closed = await #expect(throws: ReplicationError.self) { try await connection.identifySystem() }
            #expect(closed?.code == .closed)
        }

        @Test("a URI conninfo works; an empty one falls back to libpq's defaults", .timeLimit(.minutes(2)))
        func conninfoForms() async throws {
            let server = try await PostgresFixture()
            let host = server.socketDirectory.replacing("/", with: "%2F")
            let uri = "postgresql://postgres@/postgres?host=\(host)&port=\(server.port)"
            let connection = try await ReplicationConnection.connect(conninfo: uri, timeout: .seconds(20))
            #expect(try await connection.simpleQuery("select current_user") == [["postgres"]])
            connection.close()

            // No PG* variables are set here, so libpq tries its default socket, where no server runs.
            do {
                let fallback = try await ReplicationConnection.connect(conninfo: "", timeout: .seconds(10))
                fallback.close()
            } catch let error as ReplicationError {
                #expect(error.code == .connectionFailed)
                #expect(error.message.contains(".s.PGSQL.5432"), "\(error)")
            }
        }

        @Test("cancelling a queued call abandons it; cancelling a running query cancels it on the server and closes",
              .timeLimit(.minutes(2)))
        func cancellingAQuery() async throws {
            let server = try await PostgresFixture()
            let connection = try await ReplicationConnection.connect(conninfo: server.conninfo(), timeout: .seconds(20))

            // A call still waiting for its turn is abandoned at once and leaves the connection alone.
            let first = Task { try await connection.simpleQuery("select pg_sleep(2)") }
            try await Task.sleep(for: .milliseconds(100))
            let queued = Task { try await connection.identifySystem() }
            try await Task.sleep(for: .milliseconds(100))
            let queuedStart = ContinuousClock.now
            queued.cancel()
            let queuedError = await #expect(throws: ReplicationError.self) { try await queued.value }
            #expect(queuedError?.code == .cancelled)
            #expect(ContinuousClock.now - queuedStart < .milliseconds(1500), "before the running query ends")
            #expect(try await first.value == [[""]])
            #expect(!connection.isClosed)

            let query = Task { try await connection.simpleQuery("select pg_sleep(60)") }
            let deadline = ContinuousClock.now + .seconds(20)
            while try await server.psql("select count(*) from pg_stat_activity where query like 'select pg_sleep(60)%'") == "0" {
                guard ContinuousClock.now < deadline else { Issue.record("the query never started"); return }
                try await Task.sleep(for: .milliseconds(20))
            }
            let start = ContinuousClock.now
            query.cancel()
            let error = await #expect(throws: ReplicationError.self) { try await query.value }
            #expect(error?.code == .cancelled)
            #expect(ContinuousClock.now - start < .seconds(3))
            #expect(connection.isClosed)
            try await server.waitUntilNoWALSenders()
        }
    }
}
