import Foundation
import PostgresReplication
import Testing
import TidemarkCore
import TidemarkTesting

extension ReplicationServerTests {
    @Suite("Stopping a BASE_BACKUP against PostgreSQL 15")
    struct BaseBackupCancellationTests {
        /// After a stopped backup: no WAL sender is left and a new backup completes.
        static func expectServerUsable(_ server: PostgresFixture) async throws {
            try await server.waitUntilNoWALSenders()
            let connection = try await ReplicationConnection.connect(conninfo: server.conninfo(), timeout: .seconds(20))
            let backup = try await record(try connection.baseBackup(options: BaseBackupOptions(waitForWALArchive: false)))
            #expect(backup.end != nil && backup.manifest != nil)
            connection.close()
        }

        static func server() async throws -> PostgresFixture {
            let server = try await PostgresFixture()
            try await server.pgbench(["-i", "-s", "1", "-q"])
            return server
        }

        @Test("cancel() mid-stream ends the stream promptly and the server aborts the backup", .timeLimit(.minutes(5)))
        func explicitCancel() async throws {
            let server = try await Self.server()
            let connection = try await ReplicationConnection.connect(conninfo: server.conninfo(), timeout: .seconds(20))
            let stream = try connection.baseBackup(options: BaseBackupOptions(waitForWALArchive: false))
            var pieces = 0
            while let event = try await stream.next() {
                if case .fileData = event { pieces += 1 }
                if pieces == 5 { break }
            }
            let start = ContinuousClock.now
            stream.cancel()
            let error = await #expect(throws: ReplicationError.self) { try await stream.next() }
            #expect(error?.code == .cancelled)
            #expect(ContinuousClock.now - start < .seconds(2))
            #expect(try await stream.next() == nil)
            let deadline = ContinuousClock.now + .seconds(5)
            while !connection.isClosed && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(connection.isClosed)
            try await Self.expectServerUsable(server)
        }

        @Test("cancelling the consuming task, or dropping the stream, stops the backup", .timeLimit(.minutes(5)))
        func taskCancellationAndDroppedStream() async throws {
            let server = try await Self.server()
            // The task is cancelled while it waits in next() on a stream whose producer is blocked by backpressure.
            let consumer = Task {
                let connection = try await ReplicationConnection.connect(conninfo: server.conninfo(), timeout: .seconds(20))
                let stream = try connection.baseBackup(options: BaseBackupOptions(waitForWALArchive: false, maxBufferedBytes: 64 << 10))
                while let _ = try await stream.next() {
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            try await Task.sleep(for: .seconds(1))
            let start = ContinuousClock.now
            consumer.cancel()
            let error = await #expect(throws: ReplicationError.self) { try await consumer.value }
            #expect(error?.code == .cancelled)
            #expect(ContinuousClock.now - start < .seconds(2))
            try await Self.expectServerUsable(server)

            // A consumer that simply walks away: the stream's deinit stops the backup.
            do {
                let connection = try await ReplicationConnection.connect(conninfo: server.conninfo(), timeout: .seconds(20))
                let stream = try connection.baseBackup(options: BaseBackupOptions(waitForWALArchive: false, maxBufferedBytes: 64 << 10))
                for try await event in stream {
                    if case .fileData = event { break }
                }
            }
            try await Self.expectServerUsable(server)
        }

        @Test("a backup stuck in a spread checkpoint is stopped by cancel()", .timeLimit(.minutes(3)))
        func cancelDuringCheckpoint() async throws {
            let server = try await PostgresFixture(.init(configuration: ["checkpoint_timeout = '30min'", "checkpoint_completion_target = 0.9"]))
            try await server.pgbench(["-i", "-s", "1", "-q"])
            try await server.psql("update pgbench_accounts set abalance = abalance + 1")  // dirty buffers to write slowly
            let connection = try await ReplicationConnection.connect(conninfo: server.conninfo(), timeout: .seconds(20))
            let stream = try connection.baseBackup(options: BaseBackupOptions(checkpoint: .spread, waitForWALArchive: false))
            let waiter = Task { try await stream.next() }
            try await Task.sleep(for: .milliseconds(500))
            let start = ContinuousClock.now
            stream.cancel()
            let error = await #expect(throws: ReplicationError.self, "still waiting for the checkpoint") {
                try await waiter.value
            }
            #expect(error?.code == .cancelled)
            #expect(ContinuousClock.now - start < .seconds(2))
            try await Self.expectServerUsable(server)
        }
    }
}
