import Foundation
import PostgresReplication
import Testing
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

extension ReplicationServerTests {
    @Suite("Replication connection errors against PostgreSQL 15")
    struct ConnectionErrorTests {
        /// Connects and returns the error (recording an issue if it connected).
        static func failure(_ conninfo: String, timeout: Duration = .seconds(20)) async -> ReplicationError? {
            do {
                let connection = try await ReplicationConnection.connect(conninfo: conninfo, timeout: timeout)
                connection.close()
                Issue.record("connected, but should not have: \(conninfo)")
                return nil
            } catch let error as ReplicationError {
                return error
            } catch {
                Issue.record("unexpected error type: \(error)")
                return nil
            }
        }

        static func expectNoSecret(_ error: ReplicationError?, _ secret: String, sourceLocation: SourceLocation = #_sourceLocation) {
            guard let error else { return }
            #expect(!error.description.contains(secret), "the password leaked: \(error)", sourceLocation: sourceLocation)
            #expect(!String(reflecting: error).contains(secret), "the password leaked", sourceLocation: sourceLocation)
        }

        @Test("permission, WAL sender slots, pg_hba.conf and passwords are told apart", .timeLimit(.minutes(3)))
        func classifiedServerRefusals() async throws {
            let server = try await PostgresFixture(.init(configuration: ["max_wal_senders = 2", "password_encryption = 'scram-sha-256'"]))
            try await server.psql("create role norepl login; create role pwuser login replication password 'right-password-1'")

            let secret = "hunter2-very-secret"
            let noRepl = await Self.failure(server.conninfo(user: "norepl", extra: " password=\(secret)"))
            #expect(noRepl?.code == .noReplicationPermission, "\(String(describing: noRepl))")
            #expect(noRepl?.sqlState == "42501")
            #expect(noRepl?.message.contains("replication role") == true)
            #expect(noRepl?.message.contains("port=\(server.port)") == true)
            #expect(noRepl?.hints.isEmpty == false)
            Self.expectNoSecret(noRepl, secret)

            let first = try await ReplicationConnection.connect(conninfo: server.conninfo(), timeout: .seconds(20))
            let second = try await ReplicationConnection.connect(conninfo: server.conninfo(), timeout: .seconds(20))
            let third = await Self.failure(server.conninfo())
            #expect(third?.code == .tooManyWalSenders, "\(String(describing: third))")
            #expect(third?.sqlState == "53300")
            first.close()
            second.close()
            try await server.waitUntilNoWALSenders()

            // Only postgres (socket) and pwuser (TCP, password) may connect now.
            try FileManager.default.removeItem(atPath: server.dataDirectory + "/pg_hba.conf")
            try FileManager.default.writeFile(
                server.dataDirectory + "/pg_hba.conf",
                Data("local all postgres trust\nhost all pwuser 127.0.0.1/32 scram-sha-256\n".utf8),
                mode: 0o600, owner: server.user)
            try await server.psql("select pg_reload_conf()")
            var noEntry: ReplicationError?
            let deadline = ContinuousClock.now + .seconds(10)
            repeat {
                try await Task.sleep(for: .milliseconds(100))
                noEntry = await Self.failure(server.conninfo(user: "norepl"))
            } while noEntry?.code != .noHBAEntry && ContinuousClock.now < deadline
            #expect(noEntry?.code == .noHBAEntry, "\(String(describing: noEntry))")
            #expect(noEntry?.sqlState == "28000")

            let tcp = "host=127.0.0.1 port=\(server.port) user=pwuser dbname=postgres sslmode=disable"
            let wrongPassword = "wrong-password-42"
            let badPassword = await Self.failure(tcp + " password='\(wrongPassword)'")
            #expect(badPassword?.code == .authenticationFailed, "\(String(describing: badPassword))")
            #expect(badPassword?.sqlState == "28P01")
            Self.expectNoSecret(badPassword, wrongPassword)
            let noPassword = await Self.failure(tcp + " passfile=/nonexistent")
            #expect(noPassword?.code == .authenticationFailed, "\(String(describing: noPassword))")
            let good = try await ReplicationConnection.connect(conninfo: tcp + " password=right-password-1", timeout: .seconds(20))
            #expect(try await good.simpleQuery("select current_user") == [["pwuser"]])
            good.close()
        }

        @Test("a port nobody listens on fails fast with connectionFailed", .timeLimit(.minutes(2)))
        func wrongPort() async throws {
            let server = try await PostgresFixture()
            let unused = try FreePort.loopback()
            for conninfo in [
                "host=\(PostgresFixture.quoted(server.socketDirectory)) port=\(unused) user=postgres",
                "host=127.0.0.1 port=\(unused) user=postgres",
            ] {
                let start = ContinuousClock.now
                let error = await Self.failure(conninfo, timeout: .seconds(30))
                #expect(error?.code == .connectionFailed, "\(String(describing: error))")
                #expect(error?.sqlState == nil)
                #expect(ContinuousClock.now - start < .seconds(3))
            }
        }

        @Test("a server that never answers gives timeout after the limit", .timeLimit(.minutes(1)))
        func silentServerTimesOut() async throws {
            // A listening socket whose connections the kernel accepts but nobody ever reads.
            let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            try #require(listener >= 0)
            defer { close(listener) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) }
            }
            try #require(bound == 0 && listen(listener, 8) == 0)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
            }
            let port = UInt16(bigEndian: address.sin_port)

            let start = ContinuousClock.now
            let error = await Self.failure("host=127.0.0.1 port=\(port) user=postgres", timeout: .seconds(1))
            let elapsed = ContinuousClock.now - start
            #expect(error?.code == .timeout, "\(String(describing: error))")
            #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(5), "\(elapsed)")
        }
    }
}
