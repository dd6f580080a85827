import PostgresReplication
import Testing

@Suite("Tar reader", .tags(.small), .timeLimit(.minutes(1)))
struct TarReaderTests {
    /// A PostgreSQL-like archive: label first, a directory, a padded file, an empty file, a
    /// tablespace symlink, the `./pg_wal/archive_status` spelling, pg_control last.
    static func sampleArchive() -> [UInt8] {
        var tar = TarBuilder()
        tar.file("backup_label", Array("START WAL LOCATION: 0/2000028\n".utf8))
        tar.directory("base")
        tar.directory("base/1")
        tar.file("base/1/1259", pattern(700))
        tar.file("base/1/empty", [])
        tar.symlink("pg_tblspc/16384", target: "/srv/ts one")
        tar.directory("pg_wal")
        tar.directory("./pg_wal/archive_status")
        tar.file("global/pg_control", pattern(512, seed: 9))
        tar.end()
        return tar.bytes
    }

    static let sampleEvents: [TarReader.Event] = [
        .fileStarted(path: "backup_label", size: 30, mode: 0o600, modified: 1_700_000_000),
        .fileData(Array("START WAL LOCATION: 0/2000028\n".utf8)), .fileEnded,
        .directory(path: "base", mode: 0o700),
        .directory(path: "base/1", mode: 0o700),
        .fileStarted(path: "base/1/1259", size: 700, mode: 0o600, modified: 1_700_000_000),
        .fileData(pattern(700)), .fileEnded,
        .fileStarted(path: "base/1/empty", size: 0, mode: 0o600, modified: 1_700_000_000), .fileEnded,
        .symlink(path: "pg_tblspc/16384", target: "/srv/ts one"),
        .directory(path: "pg_wal", mode: 0o700),
        .directory(path: "pg_wal/archive_status", mode: 0o700),
        .fileStarted(path: "global/pg_control", size: 512, mode: 0o600, modified: 1_700_000_000),
        .fileData(pattern(512, seed: 9)), .fileEnded,
        .endOfArchive,
    ]

    @Test func parsesAWholeArchive() throws {
        var reader = TarReader()
        let events = try reader.consume(Self.sampleArchive())
        #expect(events == Self.sampleEvents)
        #expect(reader.isAtEnd)
        try reader.finish()
    }

    @Test func everySplitPositionGivesTheSameEvents() throws {
        let bytes = Self.sampleArchive()
        for split in 0...bytes.count {
            var reader = TarReader()
            let events = try reader.consume(Array(bytes[..<split])) + reader.consume(Array(bytes[split...]))
            #expect(coalesced(events) == Self.sampleEvents, "split at \(split)")
            try reader.finish()
        }
    }

    @Test func byteAtATimeKeepsFileDataWithinTheHeaderSize() throws {
        var reader = TarReader()
        var events: [TarReader.Event] = []
        for byte in Self.sampleArchive() { events += try reader.consume([byte]) }
        #expect(coalesced(events) == Self.sampleEvents)
        // Every piece belongs to a file and the pieces add up to the header's size.
        var expected: Int64?
        var seen: Int64 = 0
        for event in events {
            switch event {
            case .fileStarted(_, let size, _, _): (expected, seen) = (size, 0)
            case .fileData(let bytes): seen += Int64(bytes.count); #expect(expected != nil)
            case .fileEnded: #expect(seen == expected); expected = nil
            default: #expect(expected == nil)
            }
        }
    }

    @Test func ustarPrefixGNULongNamesAndPaxPaths() throws {
        let directory = String(repeating: "d", count: 60)
        let leaf = String(repeating: "f", count: 90)
        let veryLong = (0..<12).map { "component\($0)x" + String(repeating: "y", count: 15) }.joined(separator: "/")
        let longTarget = "/" + String(repeating: "t", count: 150)

        var posix = TarBuilder()
        posix.file(leaf, [1, 2, 3], prefix: directory)
        posix.pax([("path", veryLong), ("linkpath", longTarget)])
        posix.symlink("ignored", target: "ignored")
        posix.end()
        var reader = TarReader()
        #expect(try reader.consume(posix.bytes) == [
            .fileStarted(path: directory + "/" + leaf, size: 3, mode: 0o600, modified: 1_700_000_000),
            .fileData([1, 2, 3]), .fileEnded,
            .symlink(path: veryLong, target: longTarget), .endOfArchive,
        ])

        var gnu = TarBuilder(format: .gnu)
        gnu.gnuLong(veryLong)
        gnu.file("truncated-name", pattern(1024))
        gnu.gnuLong(longTarget, type: "K")
        gnu.symlink("link", target: "short")
        gnu.end()
        reader = TarReader()
        #expect(coalesced(try reader.consume(gnu.bytes)) == [
            .fileStarted(path: veryLong, size: 1024, mode: 0o600, modified: 1_700_000_000),
            .fileData(pattern(1024)), .fileEnded,
            .symlink(path: "link", target: longTarget), .endOfArchive,
        ])
    }

    @Test func paxSizeOverridesTheHeader() throws {
        var tar = TarBuilder()
        tar.pax([("size", "5")])
        tar.header(name: "big", type: "0", size: 0)
        tar.data([9, 8, 7, 6, 5])
        tar.end()
        var reader = TarReader()
        #expect(try reader.consume(tar.bytes) == [
            .fileStarted(path: "big", size: 5, mode: 0o600, modified: 1_700_000_000), .fileData([9, 8, 7, 6, 5]),
            .fileEnded, .endOfArchive,
        ])
    }

    @Test func base256SizesForFilesOf8GiBAndMore() throws {
        let size: Int64 = 9 << 30
        var tar = TarBuilder(format: .gnu)
        tar.header(name: "base/5/16384.9", type: "0", size: size, base256Size: true)
        var reader = TarReader()
        var events = try reader.consume(tar.bytes + pattern(4096))
        #expect(events == [
            .fileStarted(path: "base/5/16384.9", size: size, mode: 0o600, modified: 1_700_000_000),
            .fileData(pattern(4096)),
        ])
        events = try reader.consume([1])
        #expect(events == [.fileData([1])])
        #expect(throws: ReplicationError.self) { try reader.finish() }
    }

    @Test func trailingZeroPaddingAfterTheEndIsAccepted() throws {
        var tar = TarBuilder()
        tar.file("a", [1])
        tar.end()
        var reader = TarReader()
        let bytes = tar.bytes + [UInt8](repeating: 0, count: 10240 - tar.bytes.count)
        #expect(try reader.consume(bytes).last == .endOfArchive)
        #expect(throws: ReplicationError.self) { try reader.consume([0, 0, 1]) }
    }

    @Test(arguments: ["/etc/passwd", "../escape", "base/../../escape", "a/..", "..", "//abs"])
    func unsafePathsAreRejected(path: String) throws {
        var tar = TarBuilder()
        tar.file(path, [1])
        tar.end()
        var reader = TarReader()
        var events: [TarReader.Event] = []
        let error = #expect(throws: ReplicationError.self) {
            try tar.bytes.withUnsafeBytes { try reader.consume($0) { events.append($0) } }
        }
        #expect(error?.code == .unsafePath)
        #expect(events.isEmpty, "no event for the rejected entry")
    }

    @Test func normalisesDotAndEmptyComponents() throws {
        #expect(try TarReader.normalizedPath(Array("./pg_wal/archive_status/".utf8)) == "pg_wal/archive_status")
        #expect(try TarReader.normalizedPath(Array("base//1/./2".utf8)) == "base/1/2")
        #expect(throws: ReplicationError.self) { try TarReader.normalizedPath(Array("./".utf8)) }
        #expect(throws: ReplicationError.self) { try TarReader.normalizedPath([0x66, 0xff]) }
    }

    @Test func malformedArchivesAreRejected() throws {
        func code(_ build: (inout TarBuilder) -> Void) -> ReplicationError.Code? {
            var tar = TarBuilder()
            build(&tar)
            var reader = TarReader()
            do {
                _ = try reader.consume(tar.bytes)
                try reader.finish()
                return nil
            } catch let error as ReplicationError {
                return error.code
            } catch {
                return nil
            }
        }
        #expect(code { $0.header(name: "a", type: "0", size: 1, corruptChecksum: true) } == .invalidArchive)
        #expect(code { $0.header(name: "a", type: "0", magic: Array("xxxxx\u{0}00".utf8)) } == .invalidArchive)
        #expect(code { $0.header(name: "hard", type: "1", link: "a"); $0.end() } == .invalidArchive)
        #expect(code { $0.header(name: "dev", type: "3"); $0.end() } == .invalidArchive)
        #expect(code { $0.header(name: "dir", type: "5", size: 10); $0.data(pattern(10)); $0.end() } == .invalidArchive)
        #expect(code { $0.file("a", pattern(100)) } == .invalidArchive, "no end marker")
        #expect(code { $0.header(name: "a", type: "0", size: 100) } == .invalidArchive, "truncated data")
        #expect(code { $0.data([0]); $0.file("a", [1]); $0.end() } == .invalidArchive, "lone zero block")
        #expect(code { $0.gnuLong("name"); $0.end() } == .invalidArchive, "long name then end")
        #expect(code { $0.header(name: "PaxHeader", type: "x", size: 5); $0.data(Array("junk\n".utf8)); $0.end() }
            == .invalidArchive)
        #expect(code { $0.file("ok", [1]); $0.end() } == nil)
    }
}
