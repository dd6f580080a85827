#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore
import TidemarkSystem

extension PrefetchSpool {
    /// Why the prefetcher's loop ended.
    public enum PrefetcherExit: Sendable, Equatable {
        /// No request for `idleSeconds`: the server no longer calls restore_command.
        case idle
        /// pg_control says the cluster is no longer recovering (in production, or shut down).
        case recoveryEnded(ClusterState)
        /// Repeated failures, or the spool lost its request (removed underneath).
        case failed
    }

    /// The prefetcher's loop (separate for tests). While waiting it reads the state in
    /// `dataDirectory`'s pg_control every `stateCheckSeconds`.
    @discardableResult
    public func runPrefetcher(archive: WALArchive, idleSeconds: Double,
                                     absentRetrySeconds: Double = 1, dataDirectory: String? = nil,
                                     stateCheckSeconds: Double = 0.5) async -> PrefetcherExit {
        let spool = self
        var lastRequest: WALSegmentName?
        var idleSince = monotonicSeconds()
        var absentAt: [WALSegmentName: Double] = [:]
        var failures = 0
        var stateCheckedAt = -1e9
        while failures < 5 {
            guard let (request, size) = spool.lastRequest() else { return .failed }
            if request != lastRequest {
                lastRequest = request
                idleSince = monotonicSeconds()
            }
            let window = spool.window(after: request, size: size)
            spool.prune(keeping: window)
            let now = monotonicSeconds()
            // The first gap of the window, unless the archive just said it does not hold it.
            guard let next = window.first(where: { !spool.entryExists($0.description) }),
                  now - (absentAt[next] ?? -1e9) >= absentRetrySeconds else {
                if now - idleSince > idleSeconds { return .idle }
                if let dataDirectory, now - stateCheckedAt >= stateCheckSeconds {
                    stateCheckedAt = now
                    if let state = PrefetchSpool.clusterState(dataDirectory: dataDirectory), !state.mayRecover {
                        return .recoveryEnded(state)
                    }
                }
                try? await Task.sleep(nanoseconds: 20_000_000)
                continue
            }
            spool.setInflight(next)
            do {
                if try await spool.prefetch(next, from: archive) == .absent { absentAt[next] = monotonicSeconds() }
                failures = 0
            } catch {
                spool.remove(next.description)
                failures += 1
                try? await Task.sleep(nanoseconds: 200_000_000)
            }
            spool.setInflight(nil)
        }
        return .failed
    }
}
