#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tidemark

/// The dashboard's view of the backup list (docs/api.md, "The dashboard"): `engine.list()`
/// reads every catalog summary and weighs retention over the whole WAL listing, which takes
/// about half a second with 1,000 backups and 100,000 segments; the page is served from the
/// last list read instead, for at most `maxAge`, and says how old it is.
///
/// - Fresh (younger than `maxAge`): served as it is.
/// - Stale: served as it is while one refresh runs in the background (never two at once).
/// - None yet, or older than the last finished API job (`version` counts them: a backup may
///   have appeared or gone): the page waits for a new read, so the page after a button's job
///   shows its result.
/// /api/admin/backup/list is not cached: a script asking the API reads the repositories.
actor DashboardListCache {
    struct View: Sendable {
        var list: BackupList?
        var error: String?
        /// When the read that produced it started.
        var readAt: Date
        /// `version()` when that read started.
        var version: Int
    }

    let maxAge: TimeInterval
    let now: @Sendable () -> Date
    let load: @Sendable () async throws -> BackupList
    /// Grows whenever the list may have changed under the view (APIJobs' finished jobs).
    let version: @Sendable () async -> Int
    private var view: View?
    private var refreshing: (task: Task<View, Never>, version: Int)?

    init(maxAge: TimeInterval = 15, now: @escaping @Sendable () -> Date, version: @escaping @Sendable () async -> Int,
         load: @escaping @Sendable () async throws -> BackupList) {
        self.maxAge = maxAge
        self.now = now
        self.version = version
        self.load = load
    }

    /// The view to render: fresh, stale while a refresh runs, or a new read.
    func current() async -> View {
        let v = await version()
        if let view, view.version == v {
            if now().timeIntervalSince(view.readAt) >= maxAge { _ = refresh(v) }
            return view
        }
        return await refresh(v).value
    }

    private func refresh(_ v: Int) -> Task<View, Never> {
        if let refreshing, refreshing.version == v { return refreshing.task }
        let load = self.load, now = self.now
        let task = Task<View, Never> {
            let at = now()
            let view: View
            do { view = View(list: try await load(), error: nil, readAt: at, version: v) } catch {
                view = View(list: nil, error: "\(error)", readAt: at, version: v)
            }
            self.finished(view)
            return view
        }
        refreshing = (task, v)
        return task
    }

    private func finished(_ fresh: View) {
        if refreshing?.version == fresh.version { refreshing = nil }
        // A failed read is shown once, never kept in place of a good list: the next page reads again.
        guard fresh.list != nil, fresh.version >= (view?.version ?? Int.min) else { return }
        if let view, view.version == fresh.version, view.readAt > fresh.readAt { return }
        view = fresh
    }
}
