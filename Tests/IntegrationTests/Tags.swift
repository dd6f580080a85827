import Testing

extension Tag {
    /// Needs a real PostgreSQL server (and the built `tidemark` binary).
    @Tag static var large: Tag
    /// Exercises the WAL archive path (wal-push / wal-fetch).
    @Tag static var walArchive: Tag
}

/// Every suite that starts PostgreSQL nests here, so they run one after another: two cores do
/// not run several servers, pgbench and timed SIGKILLs well at once, and the crash test's
/// delays are calibrated on an otherwise idle machine.
@Suite(.serialized, .tags(.large))
enum PostgreSQLIntegration {}
