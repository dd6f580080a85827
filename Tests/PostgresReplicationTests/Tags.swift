import Testing

extension Tag {
    /// Pure computation on bytes and values: no I/O, no services.
    @Tag static var small: Self
    /// Needs a real PostgreSQL server.
    @Tag static var large: Self
}

/// Every suite that starts PostgreSQL nests here, so they run one after another: two cores do
/// not run several servers, pgbench and base backups well at once.
@Suite(.serialized, .tags(.large))
enum ReplicationServerTests {}
