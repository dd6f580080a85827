import Foundation
import Testing
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkSystem
@testable import TidemarkRepository
@testable import TidemarkArchive

@Suite("wal-fetch prefetch spool: serve only what the archive holds now")
struct PrefetchSpoolTests {
    let seg3 = segmentName("000000010000000000000003")
    let seg4 = segmentName("000000010000000000000004")

    /// An archive holding segments 3...(3+count-1), and a fresh spool directory.
    func setUp(count: Int = 2, capacity: Int = 8) async throws -> (WALArchive, MemoryStore, PrefetchSpool, Scratch) {
        let (archive, store) = try await makeArchive()
        let dir = try Scratch()
        for i in 0..<count {
            let name = WALSegmentName(timeline: TimelineID(1), log: 0, seg: 3 + UInt32(i))
            _ = try await archive.push(path: try dir.write(name.description, SyntheticWAL.segment(name, seed: UInt8(i))))
        }
        let spool = PrefetchSpool(path: dir.path + "/spool", capacity: capacity)
        try spool.prepare()
        return (archive, store, spool, dir)
    }

    @Test func aPrefetchedSegmentIsServedByteForByteAndLeavesTheSpool() async throws {
        let (archive, _, spool, dir) = try await setUp()
        #expect(try await spool.prefetch(seg4, from: archive) == .stored)
        #expect(spool.spooled() == [seg4])
        #expect(await spool.serve(.segment(seg4), to: dir.path + "/dest", archive: archive) == .served)
        #expect(try dir.read("dest") == SyntheticWAL.segment(seg4, seed: 1))
        #expect(spool.spooled().isEmpty, "a served segment is moved out of the spool")
        #expect(spool.counter("served") == 1)
        #expect(spool.counter("prefetched") == 1)
    }

    @Test func aSegmentTheArchiveLacksIsAbsentAndNothingIsSpooled() async throws {
        let (archive, _, spool, dir) = try await setUp()
        defer { withExtendedLifetime(dir) {} }
        #expect(try await spool.prefetch(segmentName("000000010000000000000009"), from: archive) == .absent)
        #expect(spool.spooled().isEmpty)
        #expect(await spool.serve(.segment(segmentName("000000010000000000000009")), to: spool.path + "/x", archive: archive) == .notSpooled)
    }

    @Test func anObjectReplacedInTheArchiveAfterThePrefetchIsNotServed() async throws {
        let (archive, store, spool, dir) = try await setUp()
        try await spool.prefetch(seg4, from: archive)
        // Replace the archived object with a different segment of the same name.
        try await store.delete(RepositoryLayout.wal("main", .segment(seg4)))
        let replacement = SyntheticWAL.segment(seg4, seed: 77)
        let elsewhere = try Scratch()
        _ = try await archive.push(path: try elsewhere.write(seg4.description, replacement))
        guard case .refused = await spool.serve(.segment(seg4), to: dir.path + "/dest", archive: archive) else {
            Issue.record("a spooled copy of a replaced object must be refused")
            return
        }
        #expect(!dir.exists("dest"))
        #expect(spool.spooled().isEmpty, "the stale copy is deleted")
        try await WALArchive.fetch(name: seg4.description, to: dir.path + "/dest", from: [archive])
        #expect(try dir.read("dest") == replacement)
    }

    @Test func anObjectDeletedFromTheArchiveIsNotServed() async throws {
        let (archive, store, spool, dir) = try await setUp()
        try await spool.prefetch(seg4, from: archive)
        try await store.delete(RepositoryLayout.wal("main", .segment(seg4)))
        guard case .refused = await spool.serve(.segment(seg4), to: dir.path + "/dest", archive: archive) else {
            Issue.record("a spooled copy of a deleted object must be refused")
            return
        }
        #expect(!dir.exists("dest"))
    }

    @Test func aSpoolFilledForAnotherStanzaIsNotServed() async throws {
        let (archive, _, spool, dir) = try await setUp()
        try await spool.prefetch(seg4, from: archive)
        // The same repository and key, another stanza holding the same segment name.
        var other = WALArchive(repository: archive.repository, stanza: "other", compression: .lz4)
        other.repositoryName = "local"
        _ = try await other.push(path: try dir.write(seg4.description, SyntheticWAL.segment(seg4, seed: 1)))
        guard case .refused(let reason) = await spool.serve(.segment(seg4), to: dir.path + "/dest", archive: other) else {
            Issue.record("a spool entry of stanza main must not be served for stanza other")
            return
        }
        #expect(reason.contains("stanza"))
        #expect(!dir.exists("dest"))
    }

    @Test func aSpoolFilledFromAnotherRepositoryIsNotServed() async throws {
        let (archive, _, spool, dir) = try await setUp()
        try await spool.prefetch(seg4, from: archive)
        // Another repository (another data key) holding an identical segment.
        let (second, _) = try await makeArchive()
        _ = try await second.push(path: try dir.write(seg4.description, SyntheticWAL.segment(seg4, seed: 1)))
        guard case .refused = await spool.serve(.segment(seg4), to: dir.path + "/dest", archive: second) else {
            Issue.record("a spool entry made from another repository must not be served")
            return
        }
        #expect(!dir.exists("dest"))
    }

    @Test func aFlippedBitInTheSpoolIsRefusedAndTheArchiveServesTheFile() async throws {
        let (archive, _, spool, dir) = try await setUp()
        try await spool.prefetch(seg4, from: archive)
        let path = spool.path + "/" + seg4.description
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[5000] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        guard case .refused(let reason) = await spool.serve(.segment(seg4), to: dir.path + "/dest", archive: archive) else {
            Issue.record("a tampered spool file must not be served")
            return
        }
        #expect(reason.contains("XXH3-128"))
        #expect(!dir.exists("dest"))
        #expect(spool.counter("served") == 0)
        try await WALArchive.fetch(name: seg4.description, to: dir.path + "/dest", from: [archive])
        #expect(try dir.read("dest") == SyntheticWAL.segment(seg4, seed: 1))
    }

    @Test func aTamperedSidecarIsRefused() async throws {
        let (archive, _, spool, dir) = try await setUp()
        try await spool.prefetch(seg4, from: archive)
        let meta = spool.path + "/" + seg4.description + ".meta"
        let text = try String(contentsOfFile: meta, encoding: .utf8)
        try text.replacingOccurrences(of: "\"stanza\":\"main\"", with: "\"stanza\":\"mainx\"").write(toFile: meta, atomically: true, encoding: .utf8)
        guard case .refused(let reason) = await spool.serve(.segment(seg4), to: dir.path + "/dest", archive: archive) else {
            Issue.record("a sidecar that does not authenticate must not be served")
            return
        }
        #expect(reason.contains("authenticate"))
    }

    @Test func aSpoolDirectoryOthersCanReadIsRefused() throws {
        let dir = try Scratch()
        let path = dir.path + "/open"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o755])
        #expect(throws: TidemarkError.self) { try PrefetchSpool(path: path, capacity: 8).prepare() }
        let made = PrefetchSpool(path: dir.path + "/new", capacity: 8)
        try made.prepare()
        let mode = try FileManager.default.attributesOfItem(atPath: made.path)[.posixPermissions] as? Int
        #expect(mode == 0o700)
    }

    @Test func thePrefetcherKeepsTheWindowAndNoMore() async throws {
        // 12 segments archived (3...14); wal-fetch served segment 3; window of 3.
        let (archive, _, spool, dir) = try await setUp(count: 12, capacity: 3)
        defer { withExtendedLifetime(dir) {} }
        // Left over from an earlier position: must be pruned.
        try await spool.prefetch(seg3, from: archive)
        spool.recordRequest(seg3, size: WALSegmentSize.default.rawValue)
        await spool.runPrefetcher(archive: archive, idleSeconds: 0.3)
        #expect(spool.spooled().map(\.description) == ["000000010000000000000004", "000000010000000000000005",
                                                       "000000010000000000000006"])
        // wal-fetch moves on to 5: the window follows, 4 and 5 are gone, at most 3 are kept.
        spool.recordRequest(segmentName("000000010000000000000005"), size: WALSegmentSize.default.rawValue)
        await spool.runPrefetcher(archive: archive, idleSeconds: 0.3)
        #expect(spool.spooled().map(\.description) == ["000000010000000000000006", "000000010000000000000007",
                                                       "000000010000000000000008"])
    }

    @Test func thePrefetcherStopsAtTheEndOfTheArchive() async throws {
        let (archive, _, spool, dir) = try await setUp(count: 3, capacity: 8)   // 3, 4, 5
        defer { withExtendedLifetime(dir) {} }
        spool.recordRequest(seg3, size: WALSegmentSize.default.rawValue)
        await spool.runPrefetcher(archive: archive, idleSeconds: 0.3)
        #expect(spool.spooled().map(\.description) == ["000000010000000000000004", "000000010000000000000005"])
    }

    @Test func onlyOnePrefetcherHoldsTheLock() throws {
        let dir = try Scratch()
        let spool = PrefetchSpool(path: dir.path + "/spool", capacity: 2)
        try spool.prepare()
        let fd = try #require(spool.tryLock())
        #expect(spool.tryLock() == nil)
        #expect(spool.prefetcherRunning())
        close(fd)
        #expect(!spool.prefetcherRunning())
    }
}
