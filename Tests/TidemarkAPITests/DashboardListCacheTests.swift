import Foundation
import Testing
import Tidemark
@testable import TidemarkAPI
import TidemarkCore
import TidemarkSystem

/// The dashboard's backup list view: read once per `maxAge`, refreshed in the background when
/// stale, read again at once after a job, a failed read never kept.
@Suite("Dashboard list cache")
struct DashboardListCacheTests {
    final class Counter: Sendable {
        let loads = LockedBox(0)
        let version = LockedBox(0)
        let clock = LockedBox(Date(timeIntervalSince1970: 1_000_000))
        let failing = LockedBox(false)
        func advance(_ s: TimeInterval) { clock.mutate { $0 += s } }
    }

    func cache(_ c: Counter) -> DashboardListCache {
        DashboardListCache(maxAge: 15, now: { c.clock.value }, version: { c.version.value }, load: {
            c.loads.mutate { $0 += 1 }
            let n = c.loads.value
            if c.failing.value { throw TidemarkError(.io, "the repository is unreachable") }
            let json = #"{"backups":[],"repositories":[{"name":"load \#(n)","type":"posix","location":"/r","required":true,"backups":0}]}"#
            return try JSONDecoder().decode(BackupList.self, from: Data(json.utf8))
        })
    }

    func name(_ v: DashboardListCache.View) -> String? { v.list?.repositories.first?.name }

    @Test func aFreshViewIsServedWithoutReading() async {
        let c = Counter(), cache = cache(c)
        #expect(name(await cache.current()) == "load 1")
        c.advance(14)
        #expect(name(await cache.current()) == "load 1")
        #expect(c.loads.value == 1)
    }

    @Test func aStaleViewIsServedWhileOneRefreshRuns() async throws {
        let c = Counter(), cache = cache(c)
        _ = await cache.current()
        c.advance(16)
        // Served stale at once; the refresh runs behind it.
        #expect(name(await cache.current()) == "load 1")
        var seen: String?
        for _ in 0..<200 {
            seen = name(await cache.current())
            if seen == "load 2" { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(seen == "load 2")
        #expect(c.loads.value == 2, "one refresh, not one per stale page")
    }

    @Test func aFinishedJobMakesTheNextPageWaitForANewRead() async {
        let c = Counter(), cache = cache(c)
        _ = await cache.current()
        c.version.mutate { $0 += 1 }
        #expect(name(await cache.current()) == "load 2")
    }

    @Test func aFailedReadIsShownOnceAndNotKept() async {
        let c = Counter(), cache = cache(c)
        c.failing.mutate { $0 = true }
        let failed = await cache.current()
        #expect(failed.list == nil && failed.error?.contains("unreachable") == true)
        c.failing.mutate { $0 = false }
        #expect(name(await cache.current()) == "load 2")
    }
}
