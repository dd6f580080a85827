import Foundation
import Testing
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkS3
import TidemarkSystem

#if canImport(Glibc)
import Glibc
#endif

/// One version of a key as ListObjectVersions reports it.
struct ObjectVersion: Equatable {
    var versionID: String
    var isDeleteMarker: Bool
    var isLatest: Bool
}

extension S3ObjectStore {
    /// Every version and delete marker of `key` (relative to the prefix), newest first.
    func versions(of key: String) async throws -> [ObjectVersion] {
        let full = configuration.prefix + key
        let r = try await transport.send(S3Request(method: .GET, key: nil, query: [("versions", ""), ("prefix", full)]), operation: "list versions")
        let root = try #require(XMLElement.parse(r.body), "ListObjectVersions answer: \(String(decoding: r.body, as: UTF8.self))")
        var out: [ObjectVersion] = []
        for child in root.children where (child.name == "Version" || child.name == "DeleteMarker") && child["Key"] == full {
            out.append(ObjectVersion(versionID: child["VersionId"] ?? "", isDeleteMarker: child.name == "DeleteMarker",
                                     isLatest: child["IsLatest"] == "true"))
        }
        return out
    }

    /// DELETE of one version: the HTTP status and S3's error code, if any.
    func deleteVersion(_ key: String, _ versionID: String, bypassGovernance: Bool = false) async throws -> (status: Int, code: String?) {
        let headers = bypassGovernance ? [("x-amz-bypass-governance-retention", "true")] : []
        let r = try await transport.send(
            S3Request(method: .DELETE, key: configuration.prefix + key, query: [("versionId", versionID)], headers: headers),
            operation: "delete a version of")
        return (r.status, r.errorBody?.code)
    }

    /// GET of one version: its bytes, nil when it is not there.
    func get(_ key: String, versionID: String) async throws -> [UInt8]? {
        let r = try await transport.send(
            S3Request(method: .GET, key: configuration.prefix + key, query: [("versionId", versionID)]), operation: "read a version of")
        return r.status == 200 ? r.body : nil
    }
}

/// Runs `body` with a store (`objectLock` as given) on a fresh bucket created with Object Lock.
func withLockedBucket<T>(
    _ moto: MotoServer, objectLock: S3ObjectLock?, partSize: Int = 5 << 20,
    tamper: (@Sendable (inout [(String, String)]) -> Void)? = nil,
    _ body: (S3ObjectStore, String) async throws -> T
) async throws -> T {
    let bucket = uniqueBucket("lock")
    try moto.createBucket(bucket, objectLockEnabled: true)
    let store = try S3ObjectStore(moto.configuration(bucket: bucket, prefix: "repo/", partSize: partSize, objectLock: objectLock),
                                  pageSize: 1000, tamper: tamper)
    do {
        let result = try await body(store, bucket)
        await store.shutdown()
        return result
    } catch {
        await store.shutdown()
        throw error
    }
}

func now() -> Int64 { Int64(time(nil)) }

/// Object Lock against moto 5.2: what the store writes, what `retainUntil` reads, and the facts
/// docs/ransomware.md rests on (a locked version cannot be deleted; a plain delete only hides it).
@Suite("S3 Object Lock (moto)", .tags(.large), .timeLimit(.minutes(5)))
struct S3ObjectLockTests {
    static let governanceDay = S3ObjectLock(mode: .governance, days: 1)

    @Test func everyWriteCarriesTheLockAndRetainUntilReadsIt() async throws {
        let moto = try await SharedMoto.unchecked.get()
        try await withLockedBucket(moto, objectLock: Self.governanceDay) { store, _ in
            let before = now()
            #expect(try await store.put("wal/a", bytes: [1, 2, 3], ifAbsent: true) == .created)
            let head = try #require(try await store.headResponse(store.configuration.prefix + "wal/a"))
            #expect(head.headers.first(name: "x-amz-object-lock-mode") == "GOVERNANCE")
            let dateText = try #require(head.headers.first(name: "x-amz-object-lock-retain-until-date"))
            let date = try #require(S3Date.parseISO8601(dateText))
            #expect(abs(date - (before + 86_400)) <= 60, "retain-until \(dateText) is about a day from now")
            let until = try #require(try await store.retainUntil("wal/a"))
            #expect(until == date)

            // Streamed, small enough for one PUT.
            let writer = try await store.makeWriter("base/b1/small")
            try await writer.write([9, 9])
            #expect(try await writer.commit(ifAbsent: true) == .created)
            let streamed = try #require(try await store.retainUntil("base/b1/small"))
            #expect(abs(streamed - (before + 86_400)) <= 60)
            // A replacement is a new version, locked again.
            #expect(try await store.put("wal/a", bytes: [4], ifAbsent: false) == .created)
            #expect(try await store.get("wal/a") == [4])
            #expect(try await store.retainUntil("wal/a").map { abs($0 - (before + 86_400)) <= 60 } == true)
            #expect(try await store.retainUntil("wal/missing") == nil, "a missing object holds no lock")
        }
    }

    /// moto 5.2 stores no lock for a multipart object (it ignores the headers on
    /// CreateMultipartUpload), so the request itself is checked: the lock headers are on it and signed.
    @Test func aMultipartWriteAsksForTheLockOnCreate() async throws {
        let moto = try await SharedMoto.unchecked.get()
        let sent = Locked<[[(String, String)]]>([])
        let tamper: @Sendable (inout [(String, String)]) -> Void = { headers in
            let copy = headers
            sent.withLock { $0.append(copy) }
        }
        try await withLockedBucket(moto, objectLock: S3ObjectLock(mode: .compliance, days: 3), tamper: tamper) { store, _ in
            let bytes = StoreConformance.pattern((11 << 20) + 7, seed: 3)
            let before = now()
            let writer = try await store.makeWriter("base/b1/data.pack")
            try await writer.write(bytes)
            #expect(try await writer.commit(ifAbsent: true) == .created)
            #expect(try await store.get("base/b1/data.pack") == bytes)
            let withLock = sent.value.filter { h in h.contains { $0.0 == "x-amz-object-lock-mode" } }
            #expect(withLock.count == 1, "one request carries the lock: CreateMultipartUpload")
            let create = try #require(withLock.first)
            #expect(!create.contains { $0.0 == "content-md5" }, "that request is not a part upload (parts carry Content-MD5)")
            #expect(create.first { $0.0 == "x-amz-object-lock-mode" }?.1 == "COMPLIANCE")
            let date = try #require(create.first { $0.0 == "x-amz-object-lock-retain-until-date" }.flatMap { S3Date.parseISO8601($0.1) })
            #expect(abs(date - (before + 3 * 86_400)) <= 60)
            let authorization = try #require(create.first { $0.0 == "authorization" }?.1)
            #expect(authorization.contains("x-amz-object-lock-mode;x-amz-object-lock-retain-until-date"), "the lock headers are signed")
            // Every part carries Content-MD5, which S3 requires on a bucket with Object Lock.
            let parts = sent.value.filter { h in h.contains { $0.0 == "content-md5" } && !h.contains { $0.0 == "x-amz-object-lock-mode" } }
            #expect(parts.count >= 3, "the three parts carry Content-MD5")
            // What moto keeps for the completed object, if it ever keeps anything, is that date.
            if let stored = try await store.retainUntil("base/b1/data.pack") { #expect(abs(stored - date) <= 1) }
        }
    }

    @Test func withoutLockOrDefaultRetentionNothingIsHeld() async throws {
        let moto = try await SharedMoto.unchecked.get()
        try await withLockedBucket(moto, objectLock: nil) { store, _ in
            _ = try await store.put("wal/plain", bytes: [1], ifAbsent: true)
            #expect(try await store.retainUntil("wal/plain") == nil)
        }
        try await withStore(moto) { store, _ in
            _ = try await store.put("wal/plain", bytes: [1], ifAbsent: true)
            #expect(try await store.retainUntil("wal/plain") == nil, "a bucket without Object Lock")
        }
    }

    /// The store asks even when it writes no lock itself: the bucket's default retention counts.
    @Test func aBucketsDefaultRetentionIsReported() async throws {
        let moto = try await SharedMoto.unchecked.get()
        try await withLockedBucket(moto, objectLock: nil) { store, bucket in
            try moto.putDefaultRetention(bucket: bucket, mode: "COMPLIANCE", days: 2)
            let before = now()
            _ = try await store.put("wal/b", bytes: [1], ifAbsent: true)
            let until = try #require(try await store.retainUntil("wal/b"))
            #expect(abs(until - (before + 2 * 86_400)) <= 60)
        }
    }

    /// The facts docs/ransomware.md rests on, with the host's own (allow-all) credentials.
    @Test func aLockedVersionSurvivesOverwriteAndDeleteAndCanBeRecovered() async throws {
        let moto = try await SharedMoto.unchecked.get()
        try await withLockedBucket(moto, objectLock: Self.governanceDay) { store, _ in
            let original = StoreConformance.pattern(1000, seed: 7)
            _ = try await store.put("base/b1/manifest", bytes: original, ifAbsent: true)
            let firstVersion = try #require(try await store.versions(of: "base/b1/manifest").first)
            // The attacker overwrites, then deletes.
            _ = try await store.put("base/b1/manifest", bytes: Array(repeating: 0, count: 1000), ifAbsent: false)
            try await store.delete("base/b1/manifest")
            #expect(try await store.get("base/b1/manifest") == nil, "a plain delete hides the object")
            let versions = try await store.versions(of: "base/b1/manifest")
            #expect(versions.filter(\.isDeleteMarker).count == 1 && versions.filter { !$0.isDeleteMarker }.count == 2,
                    "a delete marker over both versions: \(versions)")
            #expect(versions.first(where: \.isLatest)?.isDeleteMarker == true, "the delete marker is the current version")
            #expect(try await store.get("base/b1/manifest", versionID: firstVersion.versionID) == original, "the original is still there")
            // Deleting the locked version itself is refused.
            let refused = try await store.deleteVersion("base/b1/manifest", firstVersion.versionID)
            #expect(refused.status == 403 && refused.code == "AccessDenied")
            #expect(try await store.get("base/b1/manifest", versionID: firstVersion.versionID) == original)
            // deleteMany is a plain delete too: it cannot destroy a locked version either.
            try await store.deleteMany(["base/b1/manifest"])
            #expect(try await store.versions(of: "base/b1/manifest").filter { !$0.isDeleteMarker }.count == 2)
            // Recovery: remove the delete markers (they hold no lock); the newest version is
            // current again, and the original is copied back from its version.
            for m in try await store.versions(of: "base/b1/manifest") where m.isDeleteMarker {
                #expect(try await store.deleteVersion("base/b1/manifest", m.versionID).status == 204)
            }
            #expect(try await store.get("base/b1/manifest") == Array(repeating: 0, count: 1000))
            let restored = try #require(try await store.get("base/b1/manifest", versionID: firstVersion.versionID))
            _ = try await store.put("base/b1/manifest", bytes: restored, ifAbsent: false)
            #expect(try await store.get("base/b1/manifest") == original)
        }
    }

    /// Why docs/ransomware.md recommends COMPLIANCE: GOVERNANCE yields to a principal allowed
    /// s3:BypassGovernanceRetention (the host's allow-all key here); COMPLIANCE yields to nobody.
    @Test(arguments: [(S3ObjectLock.Mode.governance, true), (.compliance, false)])
    func bypassingTheLock(_ mode: S3ObjectLock.Mode, _ yields: Bool) async throws {
        let moto = try await SharedMoto.unchecked.get()
        try await withLockedBucket(moto, objectLock: S3ObjectLock(mode: mode, days: 1)) { store, _ in
            _ = try await store.put("wal/c", bytes: [1], ifAbsent: true)
            let version = try #require(try await store.versions(of: "wal/c").first)
            let answer = try await store.deleteVersion("wal/c", version.versionID, bypassGovernance: true)
            #expect((answer.status == 204) == yields, "\(mode) with the bypass header: HTTP \(answer.status) \(answer.code ?? "")")
            #expect((try await store.get("wal/c") == nil) == yields)
        }
    }

    @Test func deleteManyRemovesKeysAndIgnoresMissingOnes() async throws {
        let moto = try await SharedMoto.unchecked.get()
        try await withStore(moto) { store, _ in
            for k in ["wal/1", "wal/2", "wal/3"] { _ = try await store.put(k, bytes: [1], ifAbsent: true) }
            try await store.deleteMany(["wal/1", "wal/2", "wal/missing"])
            #expect(try await store.list(prefix: "wal/").objects.map(\.key) == ["wal/3"])
            try await store.deleteMany([])
            await #expect(throws: StorageError.self) { try await store.deleteMany(["../escape"]) }
        }
    }
}

/// With moto verifying every signature: the lock headers are part of what is signed.
@Suite("S3 Object Lock with signature checking (moto)", .tags(.large), .timeLimit(.minutes(5)))
struct S3SignedObjectLockTests {
    @Test func lockedWritesAreSignedCorrectly() async throws {
        let moto = try await SharedMoto.checked.get()
        try await withLockedBucket(moto, objectLock: S3ObjectLock(mode: .compliance, days: 1)) { store, _ in
            let before = now()
            #expect(try await store.put("wal/0000000100000000000000A1", bytes: [1, 2], ifAbsent: true) == .created)
            let big = StoreConformance.pattern((5 << 20) + 3, seed: 4)
            #expect(try await store.put("base/b1/data.pack", bytes: big, ifAbsent: true) == .created)
            let until = try #require(try await store.retainUntil("wal/0000000100000000000000A1"))
            #expect(abs(until - (before + 86_400)) <= 60)
        }
    }
}
