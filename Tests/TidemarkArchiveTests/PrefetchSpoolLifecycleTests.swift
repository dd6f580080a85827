import Foundation
import Testing
import TidemarkCore
import TidemarkTesting
@testable import TidemarkSystem
@testable import TidemarkRepository
@testable import TidemarkArchive
import TidemarkCodec

/// Where the spool of decrypted WAL lives, and that it goes when recovery ends.
@Suite("wal-fetch prefetch spool: inside the data directory, removed when recovery ends")
struct PrefetchSpoolLifecycleTests {
    /// A fake data directory whose global/pg_control says `state`.
    func dataDirectory(in dir: Scratch, state: ClusterState) throws -> String {
        let data = dir.path + "/data"
        try FileManager.default.createDirectory(atPath: data + "/global", withIntermediateDirectories: true)
        try setState(state, of: data)
        return data
    }

    func setState(_ state: ClusterState, of data: String) throws {
        var bytes = [UInt8](repeating: 0, count: 8192)
        func put(_ value: UInt32, at offset: Int) {
            for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
        }
        put(1300, at: 8)            // pg_control_version of PostgreSQL 13-17
        put(202_209_061, at: 12)    // catalog version
        put(state.rawValue, at: 16)
        try Data(bytes).write(to: URL(fileURLWithPath: data + "/global/pg_control"))
    }

    @Test func theDefaultSpoolIsInsideTheDataDirectoryUnderANameBaseBackupSkips() {
        #expect(PrefetchSpool.defaultPath(dataDirectory: "/var/lib/pg/a") == "/var/lib/pg/a/pgsql_tmp.tidemark-spool")
        #expect(PrefetchSpool.defaultPath(dataDirectory: "/var/lib/pg/a/") == "/var/lib/pg/a/pgsql_tmp.tidemark-spool")
        // basebackup.c's sendDir skips every name starting with PG_TEMP_FILE_PREFIX.
        #expect(PrefetchSpool.directoryName.hasPrefix("pgsql_tmp"))
        // The old place, which check still looks at.
        let legacy = PrefetchSpool.legacyPath(stanza: "main", dataDirectory: "/var/lib/pg/a", tempDirectory: "/tmp/", uid: 26)
        #expect(legacy.hasPrefix("/tmp/tidemark-spool-26-main-"))
        #expect(legacy.count == "/tmp/tidemark-spool-26-main-".count + 16)
    }

    @Test func pgControlStatesAreRead() throws {
        let dir = try Scratch()
        for state in [ClusterState.inArchiveRecovery, .inProduction, .shutDown, .shutDownInRecovery] {
            let data = try dataDirectory(in: dir, state: state)
            #expect(PrefetchSpool.clusterState(dataDirectory: data) == state)
        }
        #expect(ClusterState.inArchiveRecovery.mayRecover && ClusterState.shutDownInRecovery.mayRecover)
        #expect(!ClusterState.inProduction.mayRecover && !ClusterState.shutDown.mayRecover)
        #expect(ClusterState(pgControl: [UInt8](repeating: 0, count: 19)) == nil, "too short")
        #expect(ClusterState(pgControl: [UInt8](repeating: 0xFF, count: 64)) == nil, "not a control file")
        #expect(PrefetchSpool.clusterState(dataDirectory: dir.path + "/nowhere") == nil)
        #expect(PrefetchSpool.isDataDirectory(dir.path + "/data"))
        #expect(!PrefetchSpool.isDataDirectory(dir.path))
    }

    @Test func thePrefetcherEndsOnceRecoveryHasEndedAndTheSpoolIsRemoved() async throws {
        let (archive, _) = try await makeArchive()
        let dir = try Scratch()
        let data = try dataDirectory(in: dir, state: .inArchiveRecovery)
        let spool = PrefetchSpool(path: PrefetchSpool.defaultPath(dataDirectory: data), capacity: 4)
        try spool.prepare()
        // A request whose successors the archive lacks: the prefetcher waits.
        spool.recordRequest(segmentName("000000010000000000000003"), size: WALSegmentSize.default.rawValue)
        let started = ContinuousClock.now
        let promote = Task {
            try await Task.sleep(for: .milliseconds(600))
            try setState(.inProduction, of: data)
        }
        let exit = await spool.runPrefetcher(archive: archive, idleSeconds: 60, dataDirectory: data,
                                              stateCheckSeconds: 0.1)
        try await promote.value
        #expect(exit == .recoveryEnded(.inProduction))
        #expect(ContinuousClock.now - started < .seconds(20), "it must not wait for the idle timeout")
        #expect(spool.removeAll())
        #expect(!FileManager.default.fileExists(atPath: spool.path))
    }

    @Test func removeAllDeletesEverythingAndTheDirectory() throws {
        let dir = try Scratch()
        let spool = PrefetchSpool(path: dir.path + "/spool", capacity: 2)
        try spool.prepare()
        for name in ["000000010000000000000004", "000000010000000000000004.meta", "request", "served", ".x.tidemark-1.tmp"] {
            _ = try dir.write("spool/" + name, [1, 2, 3])
        }
        let fd = try #require(spool.tryLock())
        close(fd)
        #expect(spool.removeAll())
        #expect(!dir.exists("spool"))
        #expect(spool.removeAll(), "nothing there is nothing left")
        // Something that is not a spool file keeps the directory (and says so).
        try spool.prepare()
        try FileManager.default.createDirectory(atPath: spool.path + "/unexpected", withIntermediateDirectories: false)
        #expect(!spool.removeAll())
        #expect(dir.exists("spool/unexpected"))
    }

    @Test func aLockTakenThroughARemovedSpoolIsNotALock() throws {
        let dir = try Scratch()
        let spool = PrefetchSpool(path: dir.path + "/spool", capacity: 2)
        try spool.prepare()
        let fd = try #require(spool.tryLock())
        defer { close(fd) }
        #expect(spool.removeAll())
        try spool.prepare()
        // A new lock file: the old descriptor no longer guards it, a new taker gets it.
        let second = try #require(spool.tryLock())
        close(second)
    }

    @Test func staleSpoolsAreFound() throws {
        let dir = try Scratch()
        let temp = dir.path + "/tmp"
        try FileManager.default.createDirectory(atPath: temp + "/tidemark-spool-26-main-0123456789abcdef", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: temp + "/unrelated", withIntermediateDirectories: true)
        let data = try dataDirectory(in: dir, state: .inArchiveRecovery)
        let spool = PrefetchSpool(path: PrefetchSpool.defaultPath(dataDirectory: data), capacity: 2)
        try spool.prepare()

        // Recovering: its spool is in use; the one in the temp directory is stale.
        var stale = PrefetchSpool.staleSpools(tempDirectory: temp, dataDirectory: data, configured: nil)
        #expect(stale.map(\.path) == [temp + "/tidemark-spool-26-main-0123456789abcdef"])

        // In production: stale, unless a prefetcher still holds it.
        try setState(.inProduction, of: data)
        let fd = try #require(spool.tryLock())
        stale = PrefetchSpool.staleSpools(tempDirectory: temp, dataDirectory: data, configured: nil)
        #expect(stale.count == 1)
        close(fd)
        stale = PrefetchSpool.staleSpools(tempDirectory: temp, dataDirectory: data, configured: nil)
        #expect(stale.map(\.path) == [temp + "/tidemark-spool-26-main-0123456789abcdef", spool.path])
        #expect(stale.last?.reason.contains("in production") == true)
    }
}
