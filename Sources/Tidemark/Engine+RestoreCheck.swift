import TidemarkCore
import TidemarkBackup

extension Engine {
    /// `restore --dry-run`: every check a real restore makes on its targets before it writes
    /// (no overlap with another target, a repository, the key or the configuration; the
    /// tablespace rules; a non-empty data directory only with `force`), run against the
    /// planned backup. Throws the same error, so a dry run exits with the code the restore
    /// would; returns what `force` would delete. Reads the targets, writes nothing.
    public func checkRestoreTargets(_ plan: PlanReport, options: RestoreOptions) throws -> [String] {
        var options = options
        options.protectedPaths += protectedPaths()
        return try RestorePlan(catalog: plan.catalog, options: options).deletions(force: options.force)
    }
}
