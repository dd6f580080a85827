import Testing
import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkVerify

/// Objects of file backups (`<stanza>/files/...`) are known kinds: a full verify reads and
/// authenticates them, and reports one that is damaged or of the wrong kind.
@Suite("Verify files objects")
struct VerifyFilesObjectsTests {
    @Test func aFullVerifyAuthenticatesFileBackupObjects() async throws {
        let store = MemoryStore()
        let repository = try await Repository.initialize(store: store, passphrase: Secret(Array("files-verify-test".utf8)),
                                                         parameters: ScryptParameters(logN: 10))
        let id = "0123456789abcdef0123456789abcdef"
        let objects: [(String, ObjectKind)] = [
            ("main/files/config", .filesConfig),
            ("main/files/packs/01/\(id)", .filesPack),
            ("main/files/index/\(id)", .filesIndex),
            ("main/files/snapshots/\(id)", .filesSnapshot),
        ]
        for (key, kind) in objects {
            let bytes = encodeEnvelope(Array(repeating: 7, count: 3000), key: repository.key, kind: kind, compression: .none).bytes
            _ = try await store.put(key, bytes: bytes, ifAbsent: false)
        }
        var clean = VerifyRepositoryReport(name: "local", location: store.location, stanza: "main", required: true, scope: "all")
        try await VerifyRun(repository: repository, stanza: "main", options: VerifyOptions(full: true), now: 1_000).run(into: &clean)
        #expect(clean.problems.filter { $0.object.contains("/files/") }.isEmpty, "\(clean.problems)")
        #expect(clean.objectsRead >= objects.count)

        store.tamper(objects[1].0) { b in
            var b = b
            b[200] ^= 1
            return b
        }
        // An index page where a pack belongs: moved.
        store.place("main/files/packs/ab/ab\(id.dropFirst(2))", try #require(await store.get(objects[2].0)))
        var damaged = VerifyRepositoryReport(name: "local", location: store.location, stanza: "main", required: true, scope: "all")
        try await VerifyRun(repository: repository, stanza: "main", options: VerifyOptions(full: true), now: 2_000).run(into: &damaged)
        let files = damaged.problems.filter { $0.object.contains("/files/") }
        #expect(files.contains { $0.object == objects[1].0 && $0.kind == .damaged }, "\(files)")
        #expect(files.contains { $0.object.hasPrefix("main/files/packs/ab/") && $0.kind == .misplaced }, "\(files)")
    }
}
