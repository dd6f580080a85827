import Foundation
import Testing
import Tidemark
@testable import TidemarkAPI
import TidemarkCore
import TidemarkSystem

/// The timeline's restore points: the page never waits for the scan, a scan reads only what is
/// new (it is handed the previous one), a failed scan keeps the last points, and the pin is
/// drawn on its timeline with the name escaped.
@Suite("Dashboard restore points")
struct DashboardRestorePointsTests {
    final class Source: Sendable {
        let clock = LockedBox(Date(timeIntervalSince1970: 2_000_000))
        let segments = LockedBox<[String: [ArchivedRestorePoint]]>([:])
        let handedKnown = LockedBox<[Int]>([])
        let failing = LockedBox(false)
    }

    static func point(_ name: String, _ segment: String, time: Double = 1_999_000, timeline: UInt32 = 1) -> ArchivedRestorePoint {
        ArchivedRestorePoint(name: name, timeline: timeline, time: time, lsn: "0/3000028", segment: segment)
    }

    func points(_ s: Source) -> DashboardRestorePoints {
        DashboardRestorePoints(maxAge: 60, now: { s.clock.value }, load: { previous in
            s.handedKnown.mutate { $0.append(previous.bySegment.count) }
            if s.failing.value { throw TidemarkError(.io, "the repository is unreachable") }
            var scan = RestorePointScan()
            scan.bySegment = s.segments.value
            return scan
        })
    }

    @Test func thePageNeverWaitsAndLaterPagesSeeTheScan() async {
        let s = Source()
        s.segments.mutate { $0 = ["000000010000000000000003": [Self.point("before-migration", "000000010000000000000003")],
                                  "000000010000000000000004": []] }
        let cache = points(s)
        #expect(await cache.current() == nil, "no scan has finished yet")
        await cache.settle()
        #expect(await cache.current()?.map(\.name) == ["before-migration"])
        // Fresh: no second scan within a minute.
        s.clock.mutate { $0 += 59 }
        _ = await cache.current()
        await cache.settle()
        #expect(s.handedKnown.value == [0])
        // Due: the next scan is handed what the last one knew.
        s.clock.mutate { $0 += 2 }
        s.segments.mutate { $0["000000010000000000000005"] = [Self.point("after-deploy", "000000010000000000000005", time: 1_999_500)] }
        _ = await cache.current()
        await cache.settle()
        #expect(s.handedKnown.value == [0, 2])
        #expect(await cache.current()?.map(\.name) == ["before-migration", "after-deploy"])
    }

    @Test func aFailedScanKeepsTheLastPoints() async {
        let s = Source()
        s.segments.mutate { $0 = ["000000010000000000000003": [Self.point("p1", "000000010000000000000003")]] }
        let cache = points(s)
        _ = await cache.current()
        await cache.settle()
        s.failing.mutate { $0 = true }
        s.clock.mutate { $0 += 61 }
        _ = await cache.current()
        await cache.settle()
        #expect(await cache.current()?.map(\.name) == ["p1"])
    }

    @Test func thePinIsDrawnOnItsTimelineEscaped() {
        var t = DashboardTimeline(windows: [:], backups: [], now: 2_000_000, rehearsal: nil)
        t.add(restorePoints: [Self.point("<b>&migration", "000000020000000000000003", timeline: 2),
                              Self.point("too-old", "000000010000000000000001", time: 2_000_000 - 91 * 86_400)])
        let svg = t.svg
        #expect(t.rows.map(\.timeline) == [2], "a point older than 90 days is not drawn; its timeline gets a row")
        #expect(svg.contains("class=\"mark-restore-point\""))
        #expect(svg.contains("restore point &#39;&lt;b&gt;&amp;migration&#39;"))
        #expect(!svg.contains("<b>&migration") && !svg.contains("too-old"))
    }
}
