import Foundation
import Testing
import TidemarkTesting

extension PostgreSQLIntegration {
    /// The fixture itself: if these fail, the archive tests' failures mean nothing.
    @Suite("PostgreSQL fixture")
    struct FixtureTests {
        @Test("starts PostgreSQL 15 as the server user, answers psql, stops idempotently", .timeLimit(.minutes(3)))
        func startQueryStop() async throws {
            let server = try await PostgresFixture()
            let version = try await server.psql("show server_version_num")
            #expect(version.hasPrefix("15"), "server_version_num = \(version)")
            #expect(try await server.psql("show listen_addresses") == "127.0.0.1")
            #expect(try await server.psql("show port") == String(server.port))
            if let user = server.user {
                #expect(try await server.psql("select current_setting('data_directory')") == server.dataDirectory)
                let owner = try FileManager.default.attributesOfItem(atPath: server.dataDirectory)[.ownerAccountID] as? NSNumber
                #expect(owner?.uint32Value == user.uid)
            }
            let scratch = server.scratchDirectory
            server.stop()
            server.stop()
            #expect(!FileManager.default.fileExists(atPath: server.dataDirectory + "/postmaster.pid"))
            await #expect(throws: TestingError.self) { try await server.psql("select 1", timeout: .seconds(20)) }
            #expect(FileManager.default.fileExists(atPath: scratch))
        }

        @Test("psql failures carry PostgreSQL's error text", .timeLimit(.minutes(3)))
        func psqlErrorsCarryStderr() async throws {
            let server = try await PostgresFixture()
            do {
                try await server.psql("select * from no_such_table")
                Issue.record("a failing statement did not throw")
            } catch let error as TestingError {
                #expect(error.description.contains("no_such_table"), "\(error)")
            }
        }

        @Test("a failing archive_command is reported at once, with the server log", .timeLimit(.minutes(3)))
        func failingArchiveCommandIsReported() async throws {
            let server = try await PostgresFixture(
                PostgresFixture.Options(configuration: [
                    "archive_mode = on", "archive_command = 'echo archive-failure-marker >&2; exit 3'",
                ]))
            let segment = try await server.switchWAL()
            do {
                try await server.waitUntilArchived(segment, timeout: .seconds(60))
                Issue.record("waitUntilArchived returned although archive_command always fails")
            } catch let error as TestingError {
                #expect(error.code == .processFailed, "\(error)")
                #expect(error.description.contains("archive-failure-marker"), "the log should carry archive_command's stderr: \(error)")
            }
        }

        @Test("a child process that outlives its timeout is killed and reported", .timeLimit(.minutes(1)))
        func timeoutKillsChild() async throws {
            let started = ContinuousClock.now
            do {
                try await ChildProcess.run(Command("/bin/sleep", ["30"], timeout: .milliseconds(300)))
                Issue.record("sleep 30 finished within a 300 ms timeout")
            } catch let error as TestingError {
                #expect(error.code == .processTimedOut)
            }
            #expect(ContinuousClock.now - started < .seconds(10))
        }

        @Test("the tidemark binary is found and installed where the server user can run it")
        func binaryInstalled() throws {
            let binary = try TidemarkBinary.install()
            let attributes = try FileManager.default.attributesOfItem(atPath: binary.path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o755)
            let directory = (binary.path as NSString).deletingLastPathComponent
            let directoryMode = try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? NSNumber
            #expect(directoryMode?.intValue == 0o755)
            #expect(FileManager.default.contentsEqual(atPath: binary.path, andPath: binary.source))
        }
    }
}
