#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tidemark

/// The restore points the dashboard's timeline pins (`Engine.restorePoints(after:)`): finding
/// them means reading a summary of every archived segment, so the page never waits for it. The
/// first page after `serve` starts shows the timeline without them and starts the scan; later
/// pages show the last scan's points and start a new scan (which reads only the segments
/// archived since) when the last one is older than `maxAge`. A failed scan keeps the last good
/// points.
actor DashboardRestorePoints {
    let maxAge: TimeInterval
    let now: @Sendable () -> Date
    let load: @Sendable (RestorePointScan) async throws -> RestorePointScan
    private var scan: RestorePointScan?
    private var points: [ArchivedRestorePoint] = []
    private var readAt: Date?
    private var running: Task<Void, Never>?

    init(maxAge: TimeInterval = 60, now: @escaping @Sendable () -> Date,
         load: @escaping @Sendable (RestorePointScan) async throws -> RestorePointScan) {
        self.maxAge = maxAge
        self.now = now
        self.load = load
    }

    /// The points of the last finished scan (nil before the first), starting a scan if due.
    func current() -> [ArchivedRestorePoint]? {
        if running == nil, readAt.map({ now().timeIntervalSince($0) >= maxAge }) ?? true {
            let previous = scan ?? RestorePointScan(), load = self.load, at = now()
            running = Task {
                let result = try? await load(previous)
                self.finished(result, at: at)
            }
        }
        return scan == nil ? nil : points
    }

    /// Waits for the running scan, if any (tests).
    func settle() async { await running?.value }

    private func finished(_ result: RestorePointScan?, at: Date) {
        running = nil
        readAt = at
        guard let result else { return }
        scan = result
        points = result.all
    }
}
