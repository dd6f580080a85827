#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCodec

/// wal-fetch with prefetching (docs/wal-fetch-prefetch.md): serve from the spool when a
/// provably current copy is there, else fetch as usual; then make sure a prefetcher runs.
extension Engine {
    /// The spool wal-fetch uses for this configuration, created or checked; nil when
    /// prefetching is off, the directory is unusable, or (without a configured spool)
    /// `dataDirectory` is not a data directory: then wal-fetch works as without prefetching.
    public func prefetchSpool(dataDirectory: String) -> PrefetchSpool? {
        guard configuration.prefetchSegments > 0, configuration.repositories.first != nil else { return nil }
        let path: String
        if let configured = configuration.spoolPath {
            path = configured
        } else {
            guard PrefetchSpool.isDataDirectory(dataDirectory) else { return nil }
            path = PrefetchSpool.defaultPath(dataDirectory: dataDirectory)
        }
        let spool = PrefetchSpool(path: path, capacity: configuration.prefetchSegments)
        do {
            try spool.prepare()
        } catch {
            return nil
        }
        return spool
    }

    /// `tidemark wal-fetch NAME DEST` with a prefetch spool. `startPrefetcher` is called (at
    /// most once) after a segment was delivered, when no prefetcher holds the spool's lock;
    /// it gets the lock's file descriptor, which the prefetcher must inherit. Errors of the
    /// spool never change the outcome: the archive decides, as without prefetching.
    public func walFetch(name: String, destination: String, spool: PrefetchSpool?,
                                startPrefetcher: @Sendable (Int32) -> Void,
                                report: @Sendable (String) -> Void = { _ in }) async throws {
        guard let spool, let file = WALFileName(name), case .segment(let segment) = file,
              let first = configuration.repositories.first else {
            try await walFetch(name: name, destination: destination, report: report)
            return
        }
        let passphrase = try configuration.requireKey()
        // The first repository is opened once, for the spool check and the normal fetch.
        let opened: WALArchive?
        do {
            opened = archive(try await open(first, passphrase: passphrase), spec: first)
        } catch {
            opened = nil   // the normal fetch below opens it again and reports why it fails
        }
        if let opened {
            var outcome = await spool.serve(file, to: destination, archive: opened)
            if outcome == .notSpooled, await Self.waitForInflight(segment, spool: spool) {
                outcome = await spool.serve(file, to: destination, archive: opened)
            }
            switch outcome {
            case .served:
                report("tidemark: '\(name)' served from the prefetch spool (served \(spool.counter("served")), "
                       + "prefetched \(spool.counter("prefetched")))")
                Self.delivered(segment, destination: destination, spool: spool, startPrefetcher: startPrefetcher)
                return
            case .refused(let reason):
                report("tidemark: prefetched '\(name)' not used (\(reason)); fetching it from the archive")
            case .notSpooled:
                break
            }
        }
        let sources = configuration.repositories.enumerated().map { i, spec in
            WALArchive.Source(name: spec.name) {
                if i == 0, let opened { return opened }
                return archive(try await open(spec, passphrase: passphrase), spec: spec)
            }
        }
        try await WALArchive.fetch(name: name, to: destination, from: sources, report: report)
        Self.delivered(segment, destination: destination, spool: spool, startPrefetcher: startPrefetcher)
    }

    /// When the prefetcher is fetching exactly this segment, waits for it (up to 60 s) rather
    /// than fetching it a second time. True when the entry appeared.
    package static func waitForInflight(_ segment: WALSegmentName, spool: PrefetchSpool) async -> Bool {
        guard spool.inflight() == segment, spool.prefetcherRunning() else { return false }
        for _ in 0..<12_000 {
            if spool.entryExists(segment.description) { return true }
            guard spool.inflight() == segment else { return spool.entryExists(segment.description) }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        return false
    }

    package static func delivered(_ segment: WALSegmentName, destination: String, spool: PrefetchSpool,
                          startPrefetcher: @Sendable (Int32) -> Void) {
        var st = stat()
        guard stat(destination, &st) == 0, st.st_size > 0 else { return }
        spool.recordRequest(segment, size: UInt64(st.st_size))
        if let fd = spool.tryLock() {
            startPrefetcher(fd)
            close(fd)
        }
    }

    /// `tidemark wal-prefetch` (started by wal-fetch, detached): keeps the segments after the
    /// last one wal-fetch served in the spool, `capacity` at most, from the first repository.
    /// Holds the spool's lock (`lockFD`, inherited, or taken here) so only one runs; exits
    /// after `idleSeconds` without a new request, when `dataDirectory`'s pg_control says
    /// recovery has ended, or after repeated failures, and then removes the spool with
    /// everything in it (still holding the lock). Never throws: a failed prefetch only means
    /// wal-fetch fetches that segment itself.
    public func walPrefetch(spool: PrefetchSpool, lockFD: Int32?,
                                   dataDirectory: String? = nil, idleSeconds: Double = 10) async {
        guard let fd = lockFD ?? spool.tryLock() else { return }
        defer { close(fd) }
        defer { spool.removeAll() }
        guard let spec = configuration.repositories.first, let passphrase = try? configuration.requireKey() else { return }
        let opened: WALArchive
        do {
            opened = archive(try await open(spec, passphrase: passphrase), spec: spec)
        } catch {
            return
        }
        await spool.runPrefetcher(archive: opened, idleSeconds: idleSeconds, dataDirectory: dataDirectory)
    }
}
