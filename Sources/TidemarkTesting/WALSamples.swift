import Foundation

/// Real, complete 16 MiB WAL segments produced by a throw-away PostgreSQL server, for tests that
/// push segments without a server of their own.
public struct WALSamples: Sendable {
    /// Paths of the copied segments, named as PostgreSQL named them, in WAL order.
    public let paths: [String]
    /// The system identifier of the cluster that wrote them.
    public let systemIdentifier: String

    /// Starts a server, runs `pgbench -i -s <scale>` and switches segments until at least
    /// `count` complete segments exist, then copies them (mode 0644, owned by `owner`) into
    /// `directory` and stops the server.
    public static func generate(
        count: Int, scale: Int = 5, into directory: String, owner: SystemUser?
    ) async throws -> WALSamples {
        let server = try await PostgresFixture(
            PostgresFixture.Options(configuration: ["wal_keep_size = '2GB'", "max_wal_size = '2GB'"]))
        defer { server.stop() }
        try await server.pgbench(["-i", "-q", "-s", String(scale)])
        var lastComplete = try await server.switchWAL()
        // Everything before the segment that now receives inserts is complete and flushed.
        while try server.segmentsInWALDirectory(through: lastComplete).count < count {
            lastComplete = try await server.switchWAL()
        }
        let names = try server.segmentsInWALDirectory(through: lastComplete)
        let systemIdentifier = try await server.systemIdentifier()
        var paths: [String] = []
        for name in names {
            let destination = directory + "/" + name
            do {
                try FileManager.default.copyItem(atPath: server.walDirectory + "/" + name, toPath: destination)
            } catch {
                throw TestingError(.fileSystem, "unable to copy segment \(name): \(error)")
            }
            try FileManager.default.setMode(destination, 0o644)
            try FileManager.default.setOwner(destination, owner)
            paths.append(destination)
        }
        return WALSamples(paths: paths, systemIdentifier: systemIdentifier)
    }
}

extension PostgresFixture {
    /// Segment files in pg_wal whose names sort at or before `last` (same timeline), sorted.
    /// Recycled segments carry names *after* the insert position, so they are excluded.
    public func segmentsInWALDirectory(through last: String) throws -> [String] {
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: walDirectory)
        } catch {
            throw TestingError(.fileSystem, "unable to list '\(walDirectory)': \(error)")
        }
        return entries.filter { WALNames.isSegmentName($0) && $0 <= last }.sorted()
    }
}

/// Content digests computed by `sha256sum`, independent of the code under test.
public enum FileDigest {
    /// Lower-case hexadecimal SHA-256 of the file at `path`.
    public static func sha256(_ path: String) async throws -> String {
        let result = try await ChildProcess.run(Command("/usr/bin/sha256sum", ["--", path])).checked()
        guard let digest = result.stdoutText.split(separator: " ").first, digest.count == 64 else {
            throw TestingError(.unexpectedOutput, "unexpected sha256sum output: \(result.stdoutText)")
        }
        return String(digest)
    }
}
