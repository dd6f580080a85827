import Foundation
import Synchronization
import Testing
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkSystem
@testable import TidemarkRepository
import TidemarkCore
import TidemarkCodec

/// A wall clock the test moves by hand.
final class ManualClock: Sendable {
    private let now = Mutex(Date(timeIntervalSince1970: 1_780_000_000))
    var read: @Sendable () -> Date { { [self] in now.withLock { $0 } } }
    func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
}

/// Seconds a renewer has "slept" on the manual clock.
final class SleptSeconds: Sendable {
    let total = Mutex(0.0)
}

/// The stanza lock's lease logic on the in-memory store, with an injected clock and hosts.
@Suite("Repository lock", .timeLimit(.minutes(1)))
struct RepositoryLockTests {
    let store = MemoryStore()
    let clock = ManualClock()

    func host(_ name: String, pid: Int32 = 100, boot: String = "boot-1", gone: Set<Int32> = []) -> HostIdentity {
        HostIdentity(host: name, pid: pid, bootID: boot, pidNamespace: "pid:[1]", processIsGone: { gone.contains($0) })
    }

    func lock(_ identity: HostIdentity, duration: Double = 60, clock: (@Sendable () -> Date)? = nil) -> RepositoryLock {
        RepositoryLock(store: store, stanza: "main", duration: duration, clock: clock ?? self.clock.read, identity: identity)
    }

    @Test func aHeldLockRefusesOthersWithBusyNamingTheHolder() async throws {
        let a = try await lock(host("db1", pid: 4242)).acquire(command: "backup")
        #expect(a.generation == 1)
        let error = await expectError(.busy) { _ = try await lock(host("db2")).acquire(command: "backup") }
        let message = error?.message ?? ""
        #expect(message.contains("busy: held by backup pid 4242 on db1 since "), "\(message)")
        #expect(message.contains(", lease until \(a.record.expiresAt); retry later"), "\(message)")
        // The same host cannot take it either while the holder's process runs.
        await _ = expectError(.busy) { _ = try await lock(host("db1", pid: 7)).acquire(command: "backup") }
        #expect(try await lock(host("db2")).holder()?.holder == a.record.holder)
    }

    @Test func anExpiredLeaseIsTakenOverAlsoFromAnotherHostAndItsOldHolderLearnsItLostIt() async throws {
        let a = try await lock(host("db1")).acquire(command: "backup")
        clock.advance(59.9)
        await _ = expectError(.busy) { _ = try await lock(host("db2")).acquire(command: "backup") }
        clock.advance(0.2)
        let b = try await lock(host("db2")).acquire(command: "backup")
        #expect(b.generation == 2)
        await _ = expectError(.io) { try await a.renew() }  // expired before it could renew
        #expect(a.lostError != nil)
        #expect(throws: TidemarkError.self) { try a.checkHeld() }
        #expect(store.snapshot.keys.filter { $0.hasPrefix("main/lock/") } == [RepositoryLayout.lease("main", generation: 2)],
                "older generations are tidied away")
    }

    @Test func renewalKeepsTheLeaseBeyondItsFirstExpiry() async throws {
        let a = try await lock(host("db1")).acquire(command: "backup")
        let firstExpiry = a.record.expiresAtMillis
        for _ in 0..<5 {
            clock.advance(20)
            try await a.renew()
        }
        #expect(a.record.expiresAtMillis == firstExpiry + 100_000)
        clock.advance(45)  // 145 s after acquiring: long past the first expiry
        await _ = expectError(.busy) { _ = try await lock(host("db2")).acquire(command: "backup") }
        try a.checkHeld()
    }

    @Test func aLeaseTakenOverCannotBeRenewedEvenIfItsHolderThinksTimeIsLeft() async throws {
        // Host db1's clock lags: for db2 the lease has expired, for db1 it has not.
        let lagging = ManualClock()
        let a = try await lock(host("db1"), clock: lagging.read).acquire(command: "backup")
        clock.advance(61)
        let b = try await lock(host("db2")).acquire(command: "backup")
        lagging.advance(20)
        let error = await expectError(.busy) { try await a.renew() }
        #expect(error?.message.contains("another command took it over") == true, "\(String(describing: error))")
        #expect(throws: TidemarkError.self) { try a.checkHeld() }
        try b.checkHeld()
    }

    @Test func onlyItsHolderReleasesALease() async throws {
        let a = try await lock(host("db1")).acquire(command: "backup")
        clock.advance(61)
        let b = try await lock(host("db2")).acquire(command: "backup")
        await a.release()  // a stale holder: must not free b's lease
        await _ = expectError(.busy) { _ = try await lock(host("db3")).acquire(command: "backup") }
        await b.release()
        let c = try await lock(host("db3")).acquire(command: "backup")
        #expect(c.generation == 3)
        await b.release()  // released twice: still nothing happens to c's lease
        await _ = expectError(.busy) { _ = try await lock(host("db1")).acquire(command: "expire") }
    }

    @Test func aDeadHolderOnTheSameHostBootAndNamespaceIsTakenOverAtOnceButNeverAcrossHostsOrBoots() async throws {
        _ = try await lock(host("db1", pid: 4242)).acquire(command: "backup")
        // Same name, other boot: the pid means nothing.
        await _ = expectError(.busy) { _ = try await lock(host("db1", pid: 9, boot: "boot-2", gone: [4242])).acquire(command: "backup") }
        // Other host that happens to lack pid 4242: still nothing.
        await _ = expectError(.busy) { _ = try await lock(host("db2", pid: 9, gone: [4242])).acquire(command: "backup") }
        let b = try await lock(host("db1", pid: 9, gone: [4242])).acquire(command: "backup")
        #expect(b.generation == 2)
    }

    @Test(arguments: [false, true])
    func ofManySimultaneousTakersExactlyOneWins(expiredFirst: Bool) async throws {
        if expiredFirst {
            _ = try await lock(host("old")).acquire(command: "backup")
            clock.advance(120)
        }
        let wins = await withTaskGroup(of: Int.self) { group in
            for i in 0..<24 {
                group.addTask {
                    do {
                        _ = try await lock(host("h\(i)")).acquire(command: "backup")
                        return 1
                    } catch {
                        return 0
                    }
                }
            }
            return await group.reduce(0, +)
        }
        #expect(wins == 1)
    }

    @Test func aStaleRacerRecreatingATidiedGenerationBacksOff() async throws {
        // Generation 1 was tidied away by the holder of generation 2; a slow racer that saw
        // only generation 0 now creates generation 1 — and must notice generation 2.
        let a = try await lock(host("db1")).acquire(command: "backup")
        clock.advance(61)
        _ = try await lock(host("db2")).acquire(command: "backup")
        #expect(store.snapshot[RepositoryLayout.lease("main", generation: 1)] == nil)
        let stale = lock(host("db3"))
        _ = try await store.put(RepositoryLayout.lease("main", generation: 1),
                                bytes: try stale.newRecord(command: "backup").encoded(), ifAbsent: true)
        #expect(try await stale.generations() == [1, 2])
        await _ = expectError(.busy) { _ = try await stale.acquire(command: "backup") }
        _ = a
    }

    /// A lock whose renewer "sleeps" by moving the manual clock (until `limit` seconds have
    /// passed in all; then the sleep throws, which ends the renewer as a cancellation does).
    func lockWithManualSleep(_ identity: HostIdentity, limit: Double) -> (RepositoryLock, SleptSeconds) {
        let slept = SleptSeconds()
        let clock = self.clock
        var l = lock(identity)
        l.sleep = { seconds in
            let go = slept.total.withLock { total -> Bool in
                guard total + seconds <= limit else { return false }
                total += seconds
                return true
            }
            guard go else { throw CancellationError() }
            clock.advance(seconds)
            await Task.yield()
        }
        return (l, slept)
    }

    @Test func theKeeperRenewsEveryThirdOfTheLeaseAndKeepsItFarBeyondItsFirstExpiry() async throws {
        let (l, slept) = lockWithManualSleep(host("db1"), limit: 300)
        let a = try await l.acquire(command: "backup")
        let first = a.record.expiresAtMillis
        let keeper = LeaseKeeper([a]) { _, e in Issue.record("lost: \(e)") }
        // Fifteen renewals, 20 s apart, each extending the lease to 60 s from then.
        let patience = ContinuousClock.now + .seconds(20)
        while a.record.expiresAtMillis < first + 300_000 && ContinuousClock.now < patience { await Task.yield() }
        await keeper.stop()
        #expect(slept.total.withLock { $0 } == 300, "renewals every 20 s of a 60 s lease")
        #expect(a.record.expiresAtMillis == first + 300_000, "renewed at the last step")
        await _ = expectError(.busy) { _ = try await lock(host("db2")).acquire(command: "backup") }
        try a.checkHeld()
        await a.release()
        _ = try await lock(host("db2")).acquire(command: "backup")
    }

    @Test func aLeaseThatCannotBeRenewedIsGivenUpBeforeItExpires() async throws {
        let (l, _) = lockWithManualSleep(host("db1"), limit: 1000)
        let a = try await l.acquire(command: "backup")
        let lost = Mutex<TidemarkError?>(nil)
        store.failWrites(with: StorageError(.io, key: "main/lock", message: "the disk went away"))
        let keeper = LeaseKeeper([a]) { _, e in lost.withLock { $0 = e } }
        let patience = ContinuousClock.now + .seconds(20)
        while lost.withLock({ $0 }) == nil && ContinuousClock.now < patience { await Task.yield() }
        await keeper.stop()
        let given = try #require(lost.withLock { $0 })
        #expect(given.code == .io)
        #expect(given.message.contains("unable to renew the lock") && given.message.contains("the disk went away"), "\(given)")
        let left = Double(a.record.expiresAtMillis) / 1000 - clock.read().timeIntervalSince1970
        #expect(left > 0 && left <= 10 + 3, "given up with \(left) s left: after retrying, before the lease ended")
        #expect(throws: TidemarkError.self) { try a.checkHeld() }
        // Given up means not released either: the lease simply ends at its expiry.
        store.failWrites(with: nil)
        await a.release()
        await _ = expectError(.busy) { _ = try await lock(host("db2")).acquire(command: "backup") }
        clock.advance(left + 0.01)
        _ = try await lock(host("db2")).acquire(command: "backup")
    }

    @Test func confirmReadsTheLeaseBackAndFailsWhenAnotherHolderOverwroteIt() async throws {
        // What a store without a true create-if-absent allows: a second creator's record
        // replaces the first one's under the same generation.
        let a = try await lock(host("db1")).acquire(command: "backup")
        try await a.confirm()
        let intruder = lock(host("db2")).newRecord(command: "backup")
        _ = try await store.put(a.key, bytes: try intruder.encoded(), ifAbsent: false)
        try a.checkHeld()  // time alone cannot tell
        await _ = expectError(.busy) { try await a.confirm() }
        await _ = expectError(.busy) { try await a.renew() }
        await a.release()  // not ours any more: left alone
        #expect(LeaseRecord.decode(try #require(store.snapshot[a.key]))?.holder == intruder.holder)
    }

    @Test func withLeaseRunsTheBodyUnderTheLockAndReleasesIt() async throws {
        let l = lock(host("db1"))
        let other = lock(host("db2"))
        let inside = try await l.withLease(command: "expire") { lease in
            (try? await other.acquire(command: "backup")) == nil && lease.record.command == "expire"
        }
        #expect(inside, "the lock was not held inside the body")
        _ = try await other.acquire(command: "backup")
    }

    @Test func withLeaseCancelsTheBodyAndThrowsWhenTheLeaseIsLost() async throws {
        let (l, _) = lockWithManualSleep(host("db1"), limit: 1000)
        let error = await expectError(.io) {
            _ = try await l.withLease(command: "expire") { _ in
                store.failWrites(with: StorageError(.io, key: "main/lock", message: "the disk went away"))
                try await Task.sleep(for: .seconds(30))  // cancelled once the lease is given up
            }
        }
        #expect(error?.message.contains("unable to renew the lock") == true, "\(String(describing: error))")
    }
}
