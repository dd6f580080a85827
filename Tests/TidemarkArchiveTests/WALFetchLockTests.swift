import Foundation
import Testing
import TidemarkCore
import TidemarkTesting
@testable import TidemarkArchive
@testable import TidemarkRepository
import TidemarkCodec

/// wal-fetch and the stanza lock.
@Suite("wal-fetch and the stanza lock")
struct WALFetchLockTests {
    let store = MemoryStore()

    func lock(_ host: String) -> RepositoryLock {
        RepositoryLock(store: store, stanza: "main", duration: 60, clock: { Date() },
                       identity: HostIdentity(host: host, pid: 100, bootID: "boot-1", pidNamespace: "pid:[1]", processIsGone: { _ in false }))
    }

    @Test func aStanzaHoldingOnlyALockIsNoStanzaForWALFetch() async throws {
        // `backup --stanza typo` takes the lock before it learns anything is wrong; wal-fetch
        // with that typo must still stop recovery (repository error), not say "not archived".
        let (archive, _) = try await makeArchive(store: store)
        let lease = try await lock("db1").acquire(command: "backup")
        await lease.release()
        let dir = try Scratch()
        await _ = expectError(.repository) {
            try await WALArchive.fetch(name: "000000010000000000000001", to: dir.path + "/x", from: [archive])
        }
    }
}
