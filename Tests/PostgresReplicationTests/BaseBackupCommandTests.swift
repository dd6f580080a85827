@testable import PostgresReplication
import Testing

@Suite("BASE_BACKUP command and COPY messages", .tags(.small), .timeLimit(.minutes(1)))
struct BaseBackupCommandTests {
    @Test func newSyntaxWithEveryOption() throws {
        let options = BaseBackupOptions(
            label: "nightly", progress: true, checkpoint: .fast, waitForWALArchive: false, manifest: .yes,
            manifestChecksums: .sha256, tablespaceMap: true, verifyChecksums: false, maxRateKBPerSecond: 1024)
        #expect(try options.command(serverVersion: 150018) == """
            BASE_BACKUP ( LABEL 'nightly', PROGRESS, CHECKPOINT 'fast', WAIT false, MANIFEST 'yes', \
            MANIFEST_CHECKSUMS 'SHA256', TABLESPACE_MAP, VERIFY_CHECKSUMS false, MAX_RATE 1024 )
            """)
    }

    @Test func newSyntaxDefaults() throws {
        #expect(try BaseBackupOptions().command(serverVersion: 170002) == """
            BASE_BACKUP ( LABEL 'tidemark', CHECKPOINT 'fast', WAIT true, MANIFEST 'yes', \
            MANIFEST_CHECKSUMS 'SHA256', VERIFY_CHECKSUMS true )
            """)
        let spread = BaseBackupOptions(checkpoint: .spread, manifest: .no, manifestChecksums: .crc32c)
        #expect(try spread.command(serverVersion: 150000) == """
            BASE_BACKUP ( LABEL 'tidemark', CHECKPOINT 'spread', WAIT true, MANIFEST 'no', VERIFY_CHECKSUMS true )
            """)
    }

    @Test func legacySyntaxBefore15() throws {
        let options = BaseBackupOptions(
            label: "it's", progress: true, checkpoint: .fast, waitForWALArchive: false, manifest: .forceEncode,
            manifestChecksums: .crc32c, tablespaceMap: true, verifyChecksums: false, maxRateKBPerSecond: 32)
        #expect(try options.command(serverVersion: 140011) == """
            BASE_BACKUP LABEL 'it''s' PROGRESS FAST NOWAIT MAX_RATE 32 TABLESPACE_MAP NOVERIFY_CHECKSUMS \
            MANIFEST 'force-encode' MANIFEST_CHECKSUMS 'CRC32C'
            """)
        let plain = BaseBackupOptions(checkpoint: .spread, manifest: .no)
        #expect(try plain.command(serverVersion: 120000) == "BASE_BACKUP LABEL 'tidemark'")
    }

    @Test func labelsAreQuotedAndCheckedBeforeReachingTheServer() throws {
        let tricky = BaseBackupOptions(label: #"a'b\c' ); DROP TABLE x; --"#)
        let command = try tricky.command(serverVersion: 150000)
        #expect(command.hasPrefix(#"BASE_BACKUP ( LABEL 'a''b\c'' ); DROP TABLE x; --', "#))
        for label in ["nul\u{0}byte", "two\nlines", "cr\rhere", String(repeating: "x", count: 1025)] {
            let error = #expect(throws: ReplicationError.self) {
                try BaseBackupOptions(label: label).command(serverVersion: 150000)
            }
            #expect(error?.code == .invalidArgument)
        }
        #expect(throws: ReplicationError.self) { try BaseBackupOptions(maxRateKBPerSecond: 31).command(serverVersion: 150000) }
        #expect(throws: ReplicationError.self) { try BaseBackupOptions().command(serverVersion: 120000) }
        #expect(throws: ReplicationError.self) { try BaseBackupOptions(manifest: .no).command(serverVersion: 110000) }
    }

    @Test func copyMessagesDecode() throws {
        func decode(_ bytes: [UInt8]) throws -> BaseBackupCopyMessage {
            try bytes.withUnsafeBytes { try BaseBackupCopyMessage.decode($0) }
        }
        #expect(try decode(Array("nbase.tar\u{0}\u{0}".utf8)) == .newArchive(name: "base.tar", tablespaceLocation: nil))
        #expect(try decode(Array("n16384.tar\u{0}/srv/ts\u{0}".utf8))
            == .newArchive(name: "16384.tar", tablespaceLocation: "/srv/ts"))
        #expect(try decode([UInt8(ascii: "p"), 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05]) == .progress(0x01_0203_0405))
        #expect(try decode([UInt8(ascii: "d"), 1, 2]) == .data)
        #expect(try decode([UInt8(ascii: "m")]) == .manifestFollows)
        for bad: [UInt8] in [[], [UInt8(ascii: "p"), 1], Array("nbase.tar\u{0}".utf8), Array("n\u{0}\u{0}".utf8), [UInt8(ascii: "z")]] {
            let error = #expect(throws: ReplicationError.self) { try decode(bad) }
            #expect(error?.code == .protocol)
        }
    }
}
