import Foundation
import Testing
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkSystem
@testable import TidemarkRepository
@testable import TidemarkArchive

@Suite("wal-push / wal-fetch rules")
struct WALArchiveTests {
    let seg1 = segmentName("000000010000000000000003")

    @Test func pushThenFetchIsByteIdenticalForEveryFileKind() async throws {
        let (archive, _) = try await makeArchive()
        let dir = try Scratch()
        let files: [(String, [UInt8])] = [
            (seg1.description, SyntheticWAL.segment(seg1)),
            ("00000002.history", Array("1\t0/3000170\tbefore 2026-11-26 14:00:49.921292+00\n\n".utf8)),
            ("000000010000000000000003.00000028.backup", Array(WALPushInputTests.backupFile.utf8)),
            ("000000010000000000000004.partial", SyntheticWAL.segment(segmentName("000000010000000000000004"), seed: 9)),
        ]
        for (name, bytes) in files {
            let path = try dir.write(name, bytes)
            #expect(try await archive.push(path: path) == .stored)
        }
        for (name, bytes) in files {
            try await WALArchive.fetch(name: name, to: dir.path + "/restored", from: [archive])
            #expect(try dir.read("restored") == bytes, "\(name) must come back byte for byte")
        }
        #expect(!dir.entries.contains { $0.contains("tidemark-") }, "no temporary file left at the destination")
    }

    @Test func storedObjectsAreEncrypted() async throws {
        let (archive, store) = try await makeArchive()
        let dir = try Scratch()
        let bytes = SyntheticWAL.segment(seg1)
        _ = try await archive.push(path: try dir.write(seg1.description, bytes))
        let stored = try #require(store.snapshot[RepositoryLayout.wal("main", .segment(seg1))])
        let probe = Array(bytes[4096..<4128])
        let found = stored.indices.dropLast(32).contains { Array(stored[$0..<$0 + 32]) == probe }
        #expect(!found, "plaintext must not appear in the repository")
        #expect(Array(stored.prefix(8)) == Array("TIDEMARK".utf8))
    }

    @Test func identicalRePushSucceedsWithoutWriting() async throws {
        let (archive, store) = try await makeArchive()
        let dir = try Scratch()
        let path = try dir.write(seg1.description, SyntheticWAL.segment(seg1))
        #expect(try await archive.push(path: path) == .stored)
        let before = store.snapshot
        #expect(try await archive.push(path: path) == .alreadyArchived)
        #expect(store.snapshot == before)
    }

    @Test func differentContentUnderTheSameNameIsAConflictAndNothingIsOverwritten() async throws {
        let (archive, store) = try await makeArchive()
        let dir = try Scratch()
        let original = SyntheticWAL.segment(seg1)
        _ = try await archive.push(path: try dir.write(seg1.description, original))
        let before = store.snapshot
        var other = original
        other[5000] ^= 0xFF
        let otherDir = try Scratch()
        let error = await expectError(.conflict) { _ = try await archive.push(path: try otherDir.write(seg1.description, other)) }
        let originalSHA = hexString(sha256(original))
        let otherSHA = hexString(sha256(other))
        #expect(error?.message.contains(originalSHA) == true)
        #expect(error?.message.contains(otherSHA) == true)
        #expect(error?.hints.joined().contains("split brain") == true)
        #expect(store.snapshot == before)
        try await WALArchive.fetch(name: seg1.description, to: dir.path + "/back", from: [archive])
        #expect(try dir.read("back") == original)
    }

    @Test func aSecondDifferentPartialIsKeptAlongside() async throws {
        let (archive, store) = try await makeArchive()
        let name = "000000010000000000000004.partial"
        let seg = segmentName("000000010000000000000004")
        let a = try Scratch(), b = try Scratch()
        #expect(try await archive.push(path: try a.write(name, SyntheticWAL.segment(seg, seed: 1))) == .stored)
        let outcome = try await archive.push(path: try b.write(name, SyntheticWAL.segment(seg, seed: 2)))
        guard case .storedAlongside(let key) = outcome else {
            Issue.record("expected storedAlongside, got \(outcome)")
            return
        }
        #expect(store.snapshot[key] != nil)
        try await WALArchive.fetch(name: name, to: a.path + "/back", from: [archive])
        #expect(try a.read("back") == SyntheticWAL.segment(seg, seed: 1), "the first partial stays where it was")
    }

    @Test func aSecondClusterInTheSameStanzaIsRefused() async throws {
        let (archive, _) = try await makeArchive()
        let dir = try Scratch()
        _ = try await archive.push(path: try dir.write(seg1.description, SyntheticWAL.segment(seg1, systemIdentifier: 111)))
        let next = segmentName("000000010000000000000004")
        let error = await expectError(.conflict) {
            _ = try await archive.push(path: try dir.write(next.description, SyntheticWAL.segment(next, systemIdentifier: 222)))
        }
        #expect(error?.message.contains("222") == true && error?.message.contains("111") == true)
    }

    @Test func filesThatAreNotWALAreRejected() async throws {
        let (archive, store) = try await makeArchive()
        let dir = try Scratch()
        await _ = expectError(.invalidInput) { _ = try await archive.push(path: try dir.write("postgresql.conf", [1, 2, 3])) }
        await _ = expectError(.invalidInput) { _ = try await archive.push(path: dir.path + "/000000010000000000000009") }
        // Right name, but the header says it is another segment. Each rejected file is then
        // rewritten (truncated) in place: a push must not return while its hashing or scanning
        // threads still read the mapping, or they fault (SIGBUS) and take the process down.
        let wrong = SyntheticWAL.segment(segmentName("000000010000000000000007"))
        await _ = expectError(.invalidInput) { _ = try await archive.push(path: try dir.write(seg1.description, wrong)) }
        // Truncated segment.
        let truncated = Array(SyntheticWAL.segment(seg1).prefix(300_000))
        await _ = expectError(.invalidInput) { _ = try await archive.push(path: try dir.write(seg1.description, truncated)) }
        // Not WAL at all.
        await _ = expectError(.invalidInput) { _ = try await archive.push(path: try dir.write(seg1.description, [UInt8](repeating: 0x41, count: 1 << 20))) }
        #expect(store.snapshot.keys.filter { $0.contains("/wal/") }.isEmpty, "nothing stored for rejected input")
    }

    @Test func fetchSaysNotFoundOnlyWhenTheStanzaExistsAndLacksTheFile() async throws {
        let (archive, _) = try await makeArchive()
        let dir = try Scratch()
        // Empty repository: the stanza does not exist — a configuration problem, not "absent".
        await _ = expectError(.repository) { try await WALArchive.fetch(name: seg1.description, to: dir.path + "/x", from: [archive]) }
        _ = try await archive.push(path: try dir.write(seg1.description, SyntheticWAL.segment(seg1)))
        await _ = expectError(.notFound) { try await WALArchive.fetch(name: "000000010000000000000009", to: dir.path + "/x", from: [archive]) }
        await _ = expectError(.notFound) { try await WALArchive.fetch(name: "00000005.history", to: dir.path + "/x", from: [archive]) }
        await _ = expectError(.invalidInput) { try await WALArchive.fetch(name: "RECOVERYXLOG", to: dir.path + "/x", from: [archive]) }
        #expect(!dir.exists("x"))
    }

    @Test func aDamagedObjectIsNeverWrittenToTheDestination() async throws {
        let (archive, store) = try await makeArchive()
        let dir = try Scratch()
        _ = try await archive.push(path: try dir.write(seg1.description, SyntheticWAL.segment(seg1)))
        let key = RepositoryLayout.wal("main", .segment(seg1))
        for position in [100, 5000, 200_000] {
            store.tamper(key) { var b = $0; b[position] ^= 0x01; return b }
            await _ = expectError(.corrupt) { try await WALArchive.fetch(name: seg1.description, to: dir.path + "/dest", from: [archive]) }
            #expect(!dir.exists("dest"))
            #expect(dir.entries == [seg1.description], "no temporary file left behind: \(dir.entries)")
            store.tamper(key) { var b = $0; b[position] ^= 0x01; return b }
        }
        // Truncated object.
        let whole = try #require(store.snapshot[key])
        store.tamper(key) { Array($0.prefix($0.count - 10)) }
        await _ = expectError(.corrupt) { try await WALArchive.fetch(name: seg1.description, to: dir.path + "/dest", from: [archive]) }
        #expect(!dir.exists("dest"))
        store.tamper(key) { _ in whole }
        try await WALArchive.fetch(name: seg1.description, to: dir.path + "/dest", from: [archive])
        #expect(try dir.read("dest") == SyntheticWAL.segment(seg1))
    }

    @Test func aSwappedObjectIsCaught() async throws {
        let (archive, store) = try await makeArchive()
        let dir = try Scratch()
        let seg2 = segmentName("000000010000000000000004")
        _ = try await archive.push(path: try dir.write(seg1.description, SyntheticWAL.segment(seg1)))
        _ = try await archive.push(path: try dir.write(seg2.description, SyntheticWAL.segment(seg2)))
        let other = try #require(store.snapshot[RepositoryLayout.wal("main", .segment(seg2))])
        store.tamper(RepositoryLayout.wal("main", .segment(seg1))) { _ in other }
        await _ = expectError(.corrupt) { try await WALArchive.fetch(name: seg1.description, to: dir.path + "/dest", from: [archive]) }
        #expect(!dir.exists("dest"))
    }

    @Test func aFullDiskLeavesNothingBehind() async throws {
        let (archive, store) = try await makeArchive()
        let dir = try Scratch()
        _ = try await archive.push(path: try dir.write(seg1.description, SyntheticWAL.segment(seg1)))
        let before = store.snapshot
        store.failWrites(with: StorageError(.noSpace, key: "x", message: "unable to write 'x': No space left on device"))
        let next = segmentName("000000010000000000000004")
        let error = await expectError(.io) { _ = try await archive.push(path: try dir.write(next.description, SyntheticWAL.segment(next))) }
        #expect(error?.hints.joined().contains("full") == true)
        #expect(store.snapshot == before)
    }

    @Test(arguments: CompressionAlgorithm.allCases)
    func everyCompressionRoundTrips(_ compression: CompressionAlgorithm) async throws {
        var (archive, _) = try await makeArchive()
        archive.compression = compression
        let dir = try Scratch()
        let bytes = SyntheticWAL.segment(seg1, seed: 3)
        _ = try await archive.push(path: try dir.write(seg1.description, bytes))
        try await WALArchive.fetch(name: seg1.description, to: dir.path + "/back", from: [archive])
        #expect(try dir.read("back") == bytes)
    }
}

func sha256(_ bytes: [UInt8]) -> [UInt8] {
    var h = ContentHasher()
    h.update(bytes)
    return h.finalize()
}

@Suite("wal-push refuses bad input at the door")
struct WALPushInputTests {
    static let backupFile = """
        START WAL LOCATION: 0/3000028 (file 000000010000000000000003)
        STOP WAL LOCATION: 0/3000138 (file 000000010000000000000003)
        CHECKPOINT LOCATION: 0/3000060
        BACKUP METHOD: streamed
        BACKUP FROM: primary
        START TIME: 2026-11-26 14:00:49 UTC
        LABEL: pg_basebackup base backup
        START TIMELINE: 1
        STOP TIME: 2026-11-26 14:00:50 UTC
        STOP TIMELINE: 1

        """

    @Test func wellFormedHistoryAndBackupFilesAreArchived() async throws {
        let (archive, _) = try await makeArchive()
        let dir = try Scratch()
        let history = "1\t0/3000170\tbefore 2026-11-26 14:00:49.921292+00\n\n"
        #expect(try await archive.push(path: try dir.write("00000002.history", Array(history.utf8))) == .stored)
        #expect(try await archive.push(path: try dir.write("000000010000000000000003.00000028.backup", Array(Self.backupFile.utf8))) == .stored)
        // Label with a line break, an unknown later key, PG17's incremental lines.
        let more = Self.backupFile.replacingOccurrences(of: "LABEL: pg_basebackup base backup\n",
                                                        with: "LABEL: two\nlines\nINCREMENTAL FROM LSN: 0/2000028\nINCREMENTAL FROM TLI: 1\n")
        let other = try Scratch()
        #expect(try await archive.push(path: try other.write("000000010000000000000004.00000028.backup",
                                                             Array(more.replacingOccurrences(of: "0/3000", with: "0/4000").replacingOccurrences(of: "0000000000000003)", with: "0000000000000004)").utf8))) == .stored)
    }

    @Test(arguments: [
        ("00000002.history", "junk\n"),
        ("00000002.history", ""),
        ("00000002.history", "2\t0/3000170\tparent is not below\n"),
        ("00000003.history", "1\t0/3000170\tx\n1\t0/4000000\tnot increasing\n"),
        ("00000001.history", "\n"),
        ("000000010000000000000003.00000028.backup", ""),
        ("000000010000000000000003.00000028.backup", "hello world\n"),
        ("000000010000000000000003.00000028.backup", "START WAL LOCATION: 0/3000028 (file 000000010000000000000003)\n"),
        ("000000010000000000000003.00000099.backup", WALPushInputTests.backupFile),
        ("000000020000000000000003.00000028.backup", WALPushInputTests.backupFile),
        ("000000010000000000000003.00000028.backup", WALPushInputTests.backupFile.replacingOccurrences(of: "STOP WAL LOCATION: 0/3000138", with: "STOP WAL LOCATION: 0/1000138")),
        ("000000010000000000000003.00000028.backup", String(repeating: "\0", count: 300)),
    ])
    func malformedHistoryAndBackupFilesAreRefused(_ name: String, _ text: String) async throws {
        let (archive, store) = try await makeArchive()
        let dir = try Scratch()
        let error = await expectError(.invalidInput) { _ = try await archive.push(path: try dir.write(name, Array(text.utf8))) }
        #expect(error?.message.contains(name) == true, "\(error?.message ?? "")")
        #expect(error?.hints.contains { $0.contains("nothing was archived") } == true)
        #expect(store.snapshot.keys.filter { $0.contains("/wal/") }.isEmpty, "nothing stored")
    }

    @Test(.timeLimit(.minutes(1)))
    func aFIFONamedLikeASegmentIsRefusedWithoutBlocking() async throws {
        let (archive, store) = try await makeArchive()
        let dir = try Scratch()
        let path = dir.path + "/000000010000000000000003"
        #expect(mkfifo(path, 0o600) == 0)
        let error = await expectError(.invalidInput) { _ = try await archive.push(path: path) }
        #expect(error?.message.contains("FIFO") == true)
        #expect(store.snapshot.keys.filter { $0.contains("/wal/") }.isEmpty)
    }
}

@Suite("Repository problems are named for what they are")
struct RepositoryProblemCodeTests {
    @Test func anObjectInANewerFormatSaysUpgradeNotCorrupt() async throws {
        let (archive, store) = try await makeArchive()
        let dir = try Scratch()
        let seg = segmentName("000000010000000000000003")
        _ = try await archive.push(path: try dir.write(seg.description, SyntheticWAL.segment(seg)))
        store.tamper(RepositoryLayout.wal("main", .segment(seg))) { var b = $0; b[8] = 2; return b }
        let error = await expectError(.repository) { try await WALArchive.fetch(name: seg.description, to: dir.path + "/out", from: [archive]) }
        #expect(error?.hints.contains { $0.contains("upgrade tidemark") } == true, "\(error?.hints ?? [])")
    }

    @Test func aConfigFromAnotherRepositoryIsNotAWrongKey() async throws {
        let (_, store) = try await makeArchive()
        let other = MemoryStore()
        _ = try await Repository.initialize(store: other, passphrase: Secret(Array("another passphrase".utf8)), parameters: fastKDF)
        let dir = try Scratch()
        let seg = segmentName("000000010000000000000003")
        let a = try await Repository.open(store: store, passphrase: testPassphrase)
        _ = try await WALArchive(repository: a, stanza: "main", compression: .lz4).push(path: try dir.write(seg.description, SyntheticWAL.segment(seg)))
        let foreign = try #require(other.snapshot[RepositoryLayout.configKey])
        store.tamper(RepositoryLayout.configKey) { _ in foreign }
        let error = await expectError(.corrupt) { _ = try await Repository.open(store: store, passphrase: testPassphrase) }
        #expect(error?.message.contains("belongs to a different repository") == true, "\(error?.message ?? "")")
    }
}
