#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization
import TidemarkCodec
import TidemarkStorage
import TidemarkCore
import TidemarkSystem

/// A held stanza lock (`RepositoryLock.acquire`). Renew it (`LeaseKeeper` does, every third of
/// the duration), check it before a commit point (`checkHeld`), release it when done.
public final class Lease: Sendable {
    public let lock: RepositoryLock
    public let generation: UInt64
    package let key: String
    private struct State {
        package var record: LeaseRecord
        package var lost: TidemarkError?
        package var released = false
    }
    private let state: Mutex<State>

    package init(lock: RepositoryLock, generation: UInt64, record: LeaseRecord) {
        self.lock = lock
        self.generation = generation
        key = RepositoryLayout.lease(lock.stanza, generation: generation)
        state = Mutex(State(record: record))
    }

    /// The record as last written.
    public var record: LeaseRecord { state.withLock { $0.record } }

    /// Why the lease is no longer held, or nil while it is.
    public var lostError: TidemarkError? { state.withLock { $0.lost } }

    /// The lease must have this much left for its holder to rely on it (a sixth of the
    /// duration): a renewal that has not succeeded by then gives it up.
    package var margin: Double { lock.duration / 6 }

    /// Throws unless the lease is held, with at least `margin` left by this host's clock.
    /// Call it right before a step that must only happen under the lock (writing a catalog).
    public func checkHeld() throws {
        if let lost = lostError { throw lost }
        let left = Double(record.expiresAtMillis - RepositoryLock.millis(lock.clock())) / 1000
        if left < margin {
            throw markLost(TidemarkError(.io, "the lock of stanza '\(lock.stanza)' in '\(lock.store.location)' could not be renewed in time (\(formatted(left)) s left of its lease); stopping",
                                         hints: ["check that the repository answers quickly; lockLeaseSeconds / TIDEMARK_LOCK_LEASE_SECONDS sets the lease length"]))
        }
    }

    /// `checkHeld`, then reads the lease back: it must still name this holder, with no later
    /// generation. Call it right before a commit point that other holders must never see
    /// twice (a backup's catalog).
    public func confirm() async throws {
        try checkHeld()
        let stored: LeaseRecord?
        let newer: Bool
        do {
            stored = try await lock.store.get(key).flatMap(LeaseRecord.decode)
            newer = try await lock.generations().contains(where: { $0 > generation })
        } catch {
            throw TidemarkError.wrap(error, doing: "read the lock of stanza '\(lock.stanza)' in '\(lock.store.location)'")
        }
        guard stored?.holder == record.holder, !newer else { throw markLost(takenOver()) }
        try checkHeld()
    }

    /// Extends the lease by its duration. Compares first (the object still names this holder
    /// and no later generation exists) and again after writing; a lease found taken over,
    /// or renewed only once it had expired, is lost (`lostError`) and this throws it. Other
    /// failures (I/O) are thrown as they are and may be retried while time is left.
    public func renew() async throws {
        if let lost = lostError { throw lost }
        let before = record
        let now = lock.clock()
        guard RepositoryLock.millis(now) < before.expiresAtMillis else {
            throw markLost(expired(before))
        }
        guard let bytes = try await lock.store.get(key), let stored = LeaseRecord.decode(bytes), stored.holder == before.holder else {
            throw markLost(takenOver())
        }
        if try await lock.generations().contains(where: { $0 > generation }) { throw markLost(takenOver()) }
        var renewed = before
        renewed.expiresAt = RepositoryLock.text(now + lock.duration)
        renewed.expiresAtMillis = RepositoryLock.millis(now + lock.duration)
        _ = try await lock.store.put(key, bytes: try renewed.encoded(), ifAbsent: false)
        // Landed after the old expiry: another host may have read the old record meanwhile.
        guard RepositoryLock.millis(lock.clock()) < before.expiresAtMillis else { throw markLost(expired(before)) }
        if try await lock.generations().contains(where: { $0 > generation }) { throw markLost(takenOver()) }
        state.withLock { $0.record = renewed }
    }

    /// Releases the lease if this holder still holds it: reads the object, compares the holder
    /// id and only then marks it released (only a generation's creator ever writes it, so the
    /// write cannot undo someone else's lease). Never throws: a lease not released ends at its
    /// expiry anyway.
    public func release() async {
        let (record, skip) = state.withLock { s -> (LeaseRecord, Bool) in
            let skip = s.released || s.lost != nil
            s.released = true
            return (s.record, skip)
        }
        guard !skip else { return }
        guard let bytes = try? await lock.store.get(key), let stored = LeaseRecord.decode(bytes), stored.holder == record.holder else { return }
        var released = record
        released.released = true
        released.expiresAtMillis = min(released.expiresAtMillis, RepositoryLock.millis(lock.clock()))
        released.expiresAt = RepositoryLock.text(Date(timeIntervalSince1970: Double(released.expiresAtMillis) / 1000))
        guard let encoded = try? released.encoded() else { return }
        _ = try? await lock.store.put(key, bytes: encoded, ifAbsent: false)
    }

    /// Records the lease as lost (the first reason wins) and returns that reason.
    @discardableResult
    package func markLost(_ error: TidemarkError) -> TidemarkError {
        state.withLock { s in
            if s.lost == nil { s.lost = error }
            return s.lost ?? error
        }
    }

    /// Seconds from now until the next renewal is due (a third of the duration after the last).
    package var secondsUntilRenewal: Double {
        let acquiredOrRenewed = Double(record.expiresAtMillis) / 1000 - lock.duration
        return max(0, acquiredOrRenewed + lock.duration / 3 - lock.clock().timeIntervalSince1970)
    }

    /// Seconds left before a failing renewal gives the lease up.
    package var secondsUntilGivingUp: Double {
        Double(record.expiresAtMillis) / 1000 - margin - lock.clock().timeIntervalSince1970
    }

    private func takenOver() -> TidemarkError {
        TidemarkError(.busy, "lost the lock of stanza '\(lock.stanza)' in '\(lock.store.location)': another command took it over; stopping",
                      hints: ["its lease had expired: this command could not renew it in time (a stalled repository, a suspended process or clocks that disagree between hosts)"])
    }

    private func expired(_ record: LeaseRecord) -> TidemarkError {
        TidemarkError(.io, "the lease on the lock of stanza '\(lock.stanza)' in '\(lock.store.location)' expired at \(record.expiresAt) before it could be renewed; stopping",
                      hints: ["check that the repository answers quickly; lockLeaseSeconds / TIDEMARK_LOCK_LEASE_SECONDS sets the lease length"])
    }

    private func formatted(_ seconds: Double) -> String { String(Int(seconds.rounded(.down))) }
}

/// Renews leases in the background while their holder works: every third of the duration;
/// after a failed renewal it retries (every twentieth of the duration) until only `margin` is
/// left, then gives the lease up and calls `onLost`, which should stop the work (the holder's
/// `checkHeld` throws from then on).
public final class LeaseKeeper: Sendable {
    private let task: Mutex<Task<Void, Never>?>

    public init(_ leases: [Lease], onLost: @escaping @Sendable (Lease, TidemarkError) -> Void) {
        task = Mutex(nil)
        let work = Task {
            await withTaskGroup(of: Void.self) { group in
                for lease in leases {
                    group.addTask { await Self.keep(lease, onLost: onLost) }
                }
            }
        }
        task.withLock { $0 = work }
    }

    /// Stops renewing and waits until the renewer has finished (a renewal in flight completes
    /// or fails first, so nothing writes the lease after `stop` returns).
    public func stop() async {
        let work = task.withLock { t -> Task<Void, Never>? in
            let current = t
            t = nil
            return current
        }
        work?.cancel()
        await work?.value
    }

    package static func keep(_ lease: Lease, onLost: @Sendable (Lease, TidemarkError) -> Void) async {
        let retry = max(0.05, lease.lock.duration / 20)
        var wait = lease.secondsUntilRenewal
        while !Task.isCancelled {
            do { try await lease.lock.sleep(wait) } catch { return }
            if Task.isCancelled { return }
            do {
                try await lease.renew()
                wait = lease.secondsUntilRenewal
            } catch {
                if let lost = lease.lostError {
                    onLost(lease, lost)
                    return
                }
                guard lease.secondsUntilGivingUp > retry else {
                    let lost = lease.markLost(TidemarkError(.io, "unable to renew the lock of stanza '\(lease.lock.stanza)' in '\(lease.lock.store.location)': \(TidemarkError.wrap(error, doing: "write '\(lease.key)'").message); stopping before its lease ends",
                                                            hints: ["check the repository (the HINT of the failure above); the command can be run again"]))
                    onLost(lease, lost)
                    return
                }
                wait = retry
            }
        }
    }
}

extension RepositoryLock {
    /// Runs `body` holding the lock: acquires it (or throws `.busy`, exit 13), renews it in the
    /// background, and releases it afterwards. If the lease is lost, `body` is cancelled and the
    /// loss is thrown; `body` should still call `lease.checkHeld()` before its commit point.
    public func withLease<T: Sendable>(command: String, _ body: @escaping @Sendable (Lease) async throws -> T) async throws -> T {
        let lease = try await acquire(command: command)
        let work = Task { try await body(lease) }
        let keeper = LeaseKeeper([lease]) { _, _ in work.cancel() }
        let result = await withTaskCancellationHandler { await work.result } onCancel: { work.cancel() }
        await keeper.stop()
        await lease.release()
        if let lost = lease.lostError { throw lost }
        return try result.get()
    }
}
