import Foundation
import Testing
@testable import Tidemark
import TidemarkCore
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkRetention

/// Expire on an S3 repository whose objects carry an Object Lock retention (moto): nothing
/// locked is deleted, the backups are kept whole with the reason, and the report says until when.
@Suite("expire and S3 Object Lock (moto)")
struct ExpireObjectLockTests {
    @Test func lockedObjectsAreLeftAndReportedWithTheirDate() async throws {
        let moto = try await MotoServer.start(signatureChecking: false)
        defer { moto.stop() }
        try moto.createBucket("locked", objectLockEnabled: true)
        let scratch = try Scratch()
        let secret = try scratch.write("s3-secret", Array(moto.secretAccessKey.utf8))
        chmod(secret, 0o600)
        let config = """
            {"repositories": [{"name": "offsite", "type": "s3", "s3": {"bucket": "locked", "endpoint": "\(moto.endpoint)",
              "region": "us-east-1", "addressing": "path", "accessKeyId": "\(moto.accessKeyID)", "secretAccessKeyFile": "\(secret)",
              "objectLock": {"mode": "GOVERNANCE", "days": 1}}}]}
            """
        let r = try await ExpireTestRepository(environment: ExpireEngineTests.policy, configFile: config)
        try await r.archive(1...12)
        try await r.backup("20261101-030000F", start: 2, stop: 3, end: ExpireEngineTests.day(1))
        try await r.backup("20261108-030000F", start: 8, stop: 9, end: ExpireEngineTests.day(8))
        try await r.backup("20261109-030000I", parent: "20261108-030000F", start: 10, stop: 11, end: ExpireEngineTests.day(9))
        let before = try await r.repository.store.list(prefix: "main/wal/").prefixes.count

        let report = try await r.engine(now: ExpireEngineTests.now).expire(ExpireOptions()).0
        let repo = try #require(report.repositories.first)
        #expect(repo.error == nil, "\(repo.error ?? "")")
        let old = try #require(repo.backups.first { $0.id == "20261101-030000F" })
        #expect(old.keep && old.reasons.contains { $0.hasPrefix("object lock until ") }, "\(old.reasons)")
        #expect(repo.backupsDeleted == 0 && repo.objectsDeleted == 0)
        // Every WAL object the policy would delete is locked: listed with its date, left in place.
        #expect(!repo.locked.isEmpty && repo.locked.allSatisfy { $0.retainUntil.hasPrefix("20") }, "\(repo.locked)")
        let segment = try #require(repo.locked.first { $0.key.hasSuffix("000000010000000000000005") })
        let until = try #require(try PostgresTimestamp(parsing: segment.retainUntil).unixSeconds)
        #expect(abs(until - (Date().timeIntervalSince1970 + 86_400)) < 600, "retain-until \(segment.retainUntil)")
        #expect(try await r.repository.store.size("main/wal/0000000100000000/000000010000000000000005") != nil)
        #expect(try await r.repository.store.list(prefix: "main/wal/").prefixes.count == before)
        let catalogs = try await r.repository.store.size("main/backup/20261101-030000F/catalog")
        #expect(catalogs != nil, "a locked backup lost its catalog")
    }
}
