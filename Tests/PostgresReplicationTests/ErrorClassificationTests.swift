@testable import PostgresReplication
import Testing

@Suite("Error classification and redaction", .tags(.small), .timeLimit(.minutes(1)))
struct ErrorClassificationTests {
    @Test(arguments: [
        ("28000", "no pg_hba.conf entry for host \"[local]\", user \"x\", database \"postgres\", no encryption",
         ReplicationError.Phase.connecting, ReplicationError.Code.noHBAEntry),
        ("28000", "pg_hba.conf rejects connection for host \"[local]\"", .connecting, .authenticationFailed),
        ("28000", "role \"ghost\" does not exist", .connecting, .authenticationFailed),
        ("28P01", "password authentication failed for user \"x\"", .connecting, .authenticationFailed),
        ("42501", "must be superuser or replication role to start walsender", .connecting, .noReplicationPermission),
        ("42501", "permission denied for table t", .command, .queryFailed),
        ("53300", "number of requested standby connections exceeds max_wal_senders (currently 1)", .connecting,
         .tooManyWalSenders),
        ("55000", "WAL level not sufficient for making an online backup", .command, .walLevelTooLow),
        ("55000", "a backup is already in progress", .command, .queryFailed),
        ("57014", "canceling statement due to user request", .command, .cancelled),
        ("57P01", "terminating connection due to administrator command", .command, .connectionFailed),
        ("42601", "syntax error", .command, .queryFailed),
        ("3D000", "database \"nope\" does not exist", .connecting, .connectionFailed),
    ])
    func classifiesBySQLState(sqlState: String, message: String, phase: ReplicationError.Phase, expected: ReplicationError.Code) {
        #expect(ReplicationError.classify(sqlState: sqlState, serverMessage: message, phase: phase).0 == expected)
    }

    @Test func withoutSQLStateThePhaseDecides() {
        #expect(ReplicationError.classify(sqlState: nil, serverMessage: "x", phase: .connecting).0 == .connectionFailed)
        #expect(ReplicationError.classify(sqlState: nil, serverMessage: "x", phase: .command).0 == .queryFailed)
    }

    @Test func verboseConnectionErrorsYieldTheirSQLState() {
        let text = """
            connection to server on socket "/tmp/s/.s.PGSQL.5432" failed: FATAL:  42501: must be superuser or \
            replication role to start walsender
            LOCATION:  InitPostgres, postinit.c:931

            """
        let (sqlState, message, serverMessage) = LibPQSession.parseVerboseError(text)
        #expect(sqlState == "42501")
        #expect(serverMessage == "must be superuser or replication role to start walsender")
        #expect(message == """
            connection to server on socket "/tmp/s/.s.PGSQL.5432" failed: FATAL:  must be superuser or \
            replication role to start walsender
            """)
        let refused = LibPQSession.parseVerboseError(
            "connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n\tIs the server running?\n")
        #expect(refused.sqlState == nil)
        #expect(refused.message.contains("Connection refused"))
    }

    @Test(arguments: [
        ("host=/tmp port=5 password=hunter22 user=x", "host=/tmp port=5 password=**** user=x"),
        ("PASSWORD = 'it''s secret' dbname=x", "PASSWORD =**** dbname=x"),
        ("password='a b\\' c'", "password=****"),
        ("postgresql://alice:s3cr%40t@db.example/app?sslmode=require",
         "postgresql://alice:****@db.example/app?sslmode=require"),
        ("postgres://db/app?user=x&password=topsecret&sslmode=disable", "postgres://db/app?user=x&password=****&sslmode=disable"),
        ("no secrets here: port=5432", "no secrets here: port=5432"),
    ])
    func passwordsAreRedacted(input: String, expected: String) {
        #expect(SecretRedaction.redact(input) == expected)
    }

    @Test func explicitSecretsAreRedactedAnywhere() {
        #expect(SecretRedaction.redact("server said hunter22 twice: hunter22", secrets: ["hunter22"])
            == "server said **** twice: ****")
        #expect(SecretRedaction.redact("a b", secrets: ["a"]) == "a b", "too short to redact meaningfully")
    }

    @Test func descriptionsCarryHints() {
        let error = ReplicationError(.noHBAEntry, "unable to connect", sqlState: "28000", hints: ["add a line"])
        #expect(error.description == "unable to connect\nHINT: add a line")
        #expect(error.code.description == "noHBAEntry")
    }
}
