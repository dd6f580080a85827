#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import TidemarkCore
import TidemarkTesting
@testable import TidemarkFiles

/// Backup and restore of real temporary trees over `MemoryChunkStore`.
@Suite("Files backup and restore")
struct FilesBackupRestoreTests {
    typealias T = FilesTestTree
    static let chunk = 64 << 10

    /// Every file type: empty, sparse, hard links (across and within directories), symlinks
    /// (absolute, dangling), names with a newline and non-UTF-8 bytes, a 40-level path, modes
    /// and nanosecond mtimes.
    static func makeTree(_ root: [UInt8]) throws {
        let j = FilesPath.join
        try T.mkdir(root)
        try T.write(j(root, T.bytes("empty")), [])
        try T.write(j(root, T.bytes("small.txt")), T.bytes("hello\n"), mode: 0o640)
        try T.setMtime(j(root, T.bytes("small.txt")), seconds: 1_600_000_000, nanoseconds: 123_456_789)
        var rng = SeededGenerator(seed: 16)
        try T.write(j(root, T.bytes("big.bin")), (0..<(3 * chunk + 17)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        try T.sparse(j(root, T.bytes("sparse")), size: 5 << 20, data: T.bytes("in the middle"), at: 2 << 20)
        try T.write(j(root, T.bytes("line\nbreak")), T.bytes("newline name"))
        try T.write(j(root, [0xff, 0xfe, 0x78]), T.bytes("not utf-8 name"))
        try T.write(j(root, T.bytes("run.sh")), T.bytes("#!/bin/sh\n"), mode: 0o755)
        try T.symlink(T.bytes("/etc/hostname"), j(root, T.bytes("abs-link")))
        try T.symlink(T.bytes("no/such/target"), j(root, T.bytes("dangling")))
        try T.write(j(root, T.bytes("hardA")), T.bytes("linked content"))
        try T.mkdir(j(root, T.bytes("sub")))
        try T.link(j(root, T.bytes("hardA")), j(root, T.bytes("sub/hardB")))
        try T.write(j(root, T.bytes("sub/pair1")), T.bytes("pair"))
        try T.link(j(root, T.bytes("sub/pair1")), j(root, T.bytes("sub/pair2")))
        try T.mkdir(j(root, T.bytes("private")), mode: 0o700)
        try T.write(j(root, T.bytes("private/secret")), T.bytes("s"), mode: 0o600)
        try T.setMtime(j(root, T.bytes("private")), seconds: 1_500_000_000)
        var deep = root
        for level in 0..<40 {
            deep = j(deep, T.bytes("d\(level)"))
            try T.mkdir(deep)
        }
        try T.write(j(deep, T.bytes("leaf")), T.bytes("deep"))
        try T.setMtime(j(root, T.bytes("sub")), seconds: 1_400_000_000)
    }

    static func backup(_ paths: [String], store: MemoryChunkStore, chunking: any FilesChunking = FixedSizeChunking(size: chunk),
                       kind: FilesSnapshot.Kind = .full, parent: FilesSnapshot? = nil, exclude: [String] = [],
                       failOnUnreadable: Bool = false, hooks: FilesBackupHooks = FilesBackupHooks()) async throws -> FilesSnapshot {
        let options = FilesBackupOptions(paths: paths, exclude: exclude, failOnUnreadable: failOnUnreadable, kind: kind, blockSize: 128 << 10)
        return try await FilesBackupRun(options: options, sink: store, source: store, chunking: chunking, parent: parent, hooks: hooks)
            .run(time: 1)
    }

    static func restore(_ snapshot: FilesSnapshot, store: MemoryChunkStore, to: String, paths: [String] = [],
                        dryRun: Bool = false, allowNonEmpty: Bool = false) async throws -> FilesRestoreReport {
        try await FilesRestoreRun(snapshot: snapshot, source: store,
                                  options: FilesRestoreOptions(target: to, paths: paths, dryRun: dryRun, allowNonEmpty: allowNonEmpty)).run()
    }

    @Test func everyFileTypeRoundTrips() async throws {
        let scratch = try ScratchDirectory(prefix: "files-roundtrip")
        let src = scratch.child("src")
        try Self.makeTree(Array(src.utf8))
        let store = MemoryChunkStore()
        let snapshot = try await Self.backup([src], store: store)
        #expect(store.allDurable)
        #expect(snapshot.counts.unreadable == 0)
        #expect(snapshot.counts.changing == 0)
        #expect(snapshot.counts.files == 11)  // a file with several names counts once
        #expect(snapshot.counts.symlinks == 2)
        let to = scratch.child("restored")
        let report = try await Self.restore(snapshot, store: store, to: to)
        #expect(report.hardLinks == 2)
        let restored = Array((to + src).utf8)
        #expect(try T.differences(Array(src.utf8), restored, compareRootTimes: true) == [])
        // The sparse file restores sparse: far fewer blocks than its size.
        var st = stat()
        #expect(stat(to + src + "/sparse", &st) == 0)
        #expect(Int(st.st_blocks) * 512 < 1 << 20)
        // The target itself is created 0700.
        #expect(stat(to, &st) == 0 && st.st_mode & 0o777 == 0o700)
    }

    @Test func incrementalReusesUnchangedFilesAndRestoresAlone() async throws {
        let scratch = try ScratchDirectory(prefix: "files-incremental")
        let src = scratch.child("src")
        try Self.makeTree(Array(src.utf8))
        let store = MemoryChunkStore()
        let counting = CountingChunking(size: Self.chunk)
        let full = try await Self.backup([src], store: store, chunking: counting)
        let fullRead = counting.bytesFed
        #expect(fullRead == Int(full.counts.bytes))  // every byte once: a second name is not read again
        try T.write(Array((src + "/small.txt").utf8), T.bytes("changed content\n"), mode: 0o640)
        try T.write(Array((src + "/sub/new").utf8), T.bytes("new file"))
        let incremental = try await Self.backup([src], store: store, chunking: counting, kind: .incremental, parent: full)
        #expect(incremental.kind == .incremental)
        #expect(incremental.parent == full.id)
        #expect(counting.bytesFed - fullRead == 16 + 8)  // only the changed and the added file
        #expect(incremental.counts.readBytes == 24)
        let to = scratch.child("restored")
        _ = try await Self.restore(incremental, store: store, to: to)
        #expect(try T.differences(Array(src.utf8), Array((to + src).utf8)) == [])
        // A full run reads everything again.
        let before = counting.bytesFed
        _ = try await Self.backup([src], store: store, chunking: counting, kind: .full, parent: incremental)
        #expect(counting.bytesFed - before == fullRead + 16 - 6 + 8)
    }

    @Test func aFileChangingDuringTheReadIsFlagged() async throws {
        let scratch = try ScratchDirectory(prefix: "files-changing")
        let src = scratch.child("src")
        try T.mkdir(Array(src.utf8))
        let growing = Array((src + "/upload.part").utf8)
        try T.write(growing, [UInt8](repeating: 1, count: 300 << 10))
        try T.write(Array((src + "/steady").utf8), T.bytes("steady"))
        let hooks = FilesBackupHooks(afterBlock: { rel, _ in
            if rel == T.bytes("upload.part") { T.append(growing, [2]) }
        })
        let store = MemoryChunkStore()
        let snapshot = try await Self.backup([src], store: store, hooks: hooks)
        #expect(snapshot.counts.changing == 1)
        #expect(snapshot.changingPaths == [growing])
        let tree = try FilesTree.decode(try await store.chunk(try #require(snapshot.roots.first?.root?.subtree)))
        #expect(tree.entry(named: T.bytes("upload.part"))?.changing == true)
        #expect(tree.entry(named: T.bytes("steady"))?.changing == false)
    }

    @Test func aFileThatVanishesBeforeItIsReadIsCountedUnreadable() async throws {
        let scratch = try ScratchDirectory(prefix: "files-unreadable")
        let src = scratch.child("src")
        try T.mkdir(Array(src.utf8))
        let victim = src + "/victim"
        try T.write(Array(victim.utf8), T.bytes("gone soon"))
        try T.write(Array((src + "/kept").utf8), T.bytes("kept"))
        let hooks = FilesBackupHooks(beforeOpen: { rel in if rel == T.bytes("victim") { unlink(victim) } })
        let store = MemoryChunkStore()
        let snapshot = try await Self.backup([src], store: store, hooks: hooks)
        #expect(snapshot.counts.unreadable == 1)
        #expect(snapshot.unreadablePaths.map(\.path) == [Array(victim.utf8)])
        #expect(snapshot.counts.files == 1)
        let tree = try FilesTree.decode(try await store.chunk(try #require(snapshot.roots.first?.root?.subtree)))
        #expect(tree.entries.map(\.name) == [T.bytes("kept")])

        try T.write(Array(victim.utf8), T.bytes("again"))
        await #expect(throws: TidemarkError.self) {
            _ = try await Self.backup([src], store: store, failOnUnreadable: true, hooks: hooks)
        }
    }

    @Test func excludesAndSkippedTypes() async throws {
        let scratch = try ScratchDirectory(prefix: "files-exclude")
        let src = scratch.child("src")
        let j = { (p: String) in Array((src + "/" + p).utf8) }
        try T.mkdir(Array(src.utf8))
        try T.write(j("keep.txt"), T.bytes("k"))
        try T.write(j("x.tmp"), T.bytes("t"))
        try T.mkdir(j("a"))
        try T.write(j("a/y.tmp"), T.bytes("t"))
        try T.mkdir(j("a/cache"))
        try T.write(j("a/cache/blob"), T.bytes("c"))
        try T.write(j("cache"), T.bytes("a file named cache is kept"))
        #expect(mkfifo(src + "/fifo", 0o600) == 0)
        let store = MemoryChunkStore()
        let snapshot = try await Self.backup([src], store: store, exclude: ["*.tmp", "cache/"])
        #expect(snapshot.counts.skipped == 1)
        #expect(snapshot.skippedPaths.first?.reason == "FIFO")
        let root = try FilesTree.decode(try await store.chunk(try #require(snapshot.roots.first?.root?.subtree)))
        #expect(root.entries.map(\.name) == [T.bytes("a"), T.bytes("cache"), T.bytes("keep.txt")])
        let a = try FilesTree.decode(try await store.chunk(try #require(root.entry(named: T.bytes("a"))?.subtree)))
        #expect(a.entries.isEmpty)
    }

    @Test func unchangedDirectoriesDedupe() async throws {
        let scratch = try ScratchDirectory(prefix: "files-dedupe")
        let src = scratch.child("src")
        try Self.makeTree(Array(src.utf8))
        let store = MemoryChunkStore()
        _ = try await Self.backup([src], store: store)
        let count = store.count
        _ = try await Self.backup([src], store: store)
        #expect(store.count == count)
    }
    /// Files are written several at once, never more than `concurrency`: 12 one-chunk files
    /// whose reads each take 20 ms are restored with exactly `concurrency` reads in flight at
    /// the peak, and restore exactly.
    @Test(arguments: [1, 3])
    func filesAreWrittenAtMostConcurrencyAtATime(_ width: Int) async throws {
        let scratch = try ScratchDirectory(prefix: "files-concurrency")
        let src = scratch.child("src")
        try T.mkdir(Array(src.utf8))
        for i in 0..<12 { try T.write(Array((src + "/f\(i)").utf8), FilesChunkerTests.random(10_000 + i, seed: UInt64(i))) }
        let store = MemoryChunkStore()
        let snapshot = try await Self.backup([src], store: store)
        let slow = SlowSource(inner: store)
        let to = scratch.child("to")
        let report = try await FilesRestoreRun(snapshot: snapshot, source: slow,
                                               options: FilesRestoreOptions(target: to, concurrency: width)).run()
        #expect(report.files == 12)
        #expect(try T.differences(Array(src.utf8), Array((to + src).utf8)) == [])
        #expect(slow.most == width)
    }
}

/// A chunk source whose reads take 20 ms each and that records how many were in flight at most.
final class SlowSource: ChunkSource {
    let inner: MemoryChunkStore
    private let state = Mutex((now: 0, most: 0))
    init(inner: MemoryChunkStore) { self.inner = inner }
    var most: Int { state.withLock { $0.most } }

    func chunk(_ id: ChunkID) async throws -> [UInt8] {
        state.withLock { s in
            s.now += 1
            s.most = max(s.most, s.now)
        }
        defer { state.withLock { $0.now -= 1 } }
        try await Task.sleep(for: .milliseconds(20))
        return try await inner.chunk(id)
    }
}
