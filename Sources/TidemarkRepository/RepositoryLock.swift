#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TidemarkCodec
import TidemarkStorage
import TidemarkCore
import TidemarkSystem

/// A stanza's lock: at most one command that writes the stanza (backup, expire, delete, pin,
/// the key commands; later `verify --repair`, `init --repo`) runs at a time, in one repository, across
/// hosts. Readers (restore, plan, list, info, wal-fetch) do not take it; wal-push does not
/// either (its writes are create-if-absent and never conflict with a backup).
///
/// The lock is a *lease* (docs/locking.md): a plain JSON `LeaseRecord` saying who holds it and
/// until when, renewed while held (`LeaseKeeper`), taken over only once it has expired (or, on
/// the same host, boot and PID namespace, once its process is gone), released only by its
/// holder. The only conditional write an `ObjectStore` offers is create-if-absent, so the
/// lease is a chain of generations, `<stanza>/lock/<generation>`: the holder of the highest
/// generation holds the lock, a new holder *creates* the next generation (one creator wins),
/// and only a generation's creator ever rewrites it (renewal, release). The highest generation
/// is never deleted, so generations only grow.
public struct RepositoryLock: Sendable {
    public let store: any ObjectStore
    public let stanza: String
    /// Seconds a lease lasts unless renewed; the holder renews it every third of that.
    public var duration: Double
    /// Wall-clock time: a lease is compared across hosts, so it cannot be a monotonic clock.
    package var clock: @Sendable () -> Date
    /// How the renewer waits (seconds); tests move their clock instead.
    package var sleep: @Sendable (Double) async throws -> Void
    package var identity: HostIdentity

    public init(store: any ObjectStore, stanza: String, duration: Double = 60) {
        self.init(store: store, stanza: stanza, duration: duration, clock: { Date() }, identity: .current())
    }

    package init(store: any ObjectStore, stanza: String, duration: Double, clock: @escaping @Sendable () -> Date, identity: HostIdentity,
         sleep: @escaping @Sendable (Double) async throws -> Void = { try await Task.sleep(for: .milliseconds(Int64($0 * 1000))) }) {
        self.store = store
        self.stanza = stanza
        self.duration = duration
        self.clock = clock
        self.identity = identity
        self.sleep = sleep
    }

    /// Takes the lock for `command`, or throws `.busy` (exit 13) naming the holder.
    public func acquire(command: String) async throws -> Lease {
        do {
            return try await acquireOnce(command: command)
        } catch let e as TidemarkError {
            throw e
        } catch {
            throw TidemarkError.wrap(error, doing: "take the lock of stanza '\(stanza)' in '\(store.location)'")
        }
    }

    private func acquireOnce(command: String) async throws -> Lease {
        for _ in 0..<8 {
            let generations = try await self.generations()
            let current = generations.last ?? 0
            if current > 0 {
                let key = RepositoryLayout.lease(stanza, generation: current)
                guard let bytes = try await store.get(key) else { continue }  // a losing racer removed its own
                guard let record = LeaseRecord.decode(bytes) else {
                    throw TidemarkError(.corrupt, "the lock of stanza '\(stanza)' ('\(store.location)/\(key)') is not a Tidemark lease",
                                        hints: ["if no Tidemark command is writing to this stanza, remove that object"])
                }
                if isLive(record) { throw busy(record, key: key) }
            }
            let mine = current + 1
            let key = RepositoryLayout.lease(stanza, generation: mine)
            let record = newRecord(command: command)
            guard try await store.put(key, bytes: record.encoded(), ifAbsent: true) == .created else { continue }
            // A store without a true create-if-absent (an S3 server that ignores If-None-Match)
            // lets a second creator overwrite: the object must still name this holder.
            guard let stored = try await store.get(key), LeaseRecord.decode(stored)?.holder == record.holder else { continue }
            // A racer that saw an older generation may have created this one after its holder
            // had moved on and tidied it away: the highest generation decides.
            if try await self.generations().contains(where: { $0 > mine }) {
                try await deleteIfMine(key, holder: record.holder)
                continue
            }
            for older in generations where older < mine {
                try? await store.delete(RepositoryLayout.lease(stanza, generation: older))
            }
            return Lease(lock: self, generation: mine, record: record)
        }
        throw TidemarkError(.busy, "stanza '\(stanza)' in '\(store.location)' is busy: other commands were taking its lock at the same moment; retry later")
    }

    /// The lease generations present, ascending.
    package func generations() async throws -> [UInt64] {
        try await store.list(prefix: RepositoryLayout.lockPrefix(stanza)).objects
            .compactMap { RepositoryLayout.leaseGeneration($0.key) }.sorted()
    }

    /// Who holds the lock now, if anyone (for messages and tests).
    public func holder() async throws -> LeaseRecord? {
        guard let current = try await generations().last,
              let bytes = try await store.get(RepositoryLayout.lease(stanza, generation: current)),
              let record = LeaseRecord.decode(bytes), isLive(record) else { return nil }
        return record
    }

    /// Held: not released, not expired by this host's clock, and — for a holder on this very
    /// host, boot and PID namespace — its process still runs. A holder elsewhere is never
    /// judged by its pid: only its expiry counts.
    package func isLive(_ record: LeaseRecord) -> Bool {
        if record.released { return false }
        if Self.millis(clock()) >= record.expiresAtMillis { return false }
        if identity.sameMachine(as: record), identity.processIsGone(record.pid) { return false }
        return true
    }

    /// Compare, then delete: only a generation's creator removes it.
    package func deleteIfMine(_ key: String, holder: String) async throws {
        guard let bytes = try await store.get(key), let record = LeaseRecord.decode(bytes), record.holder == holder else { return }
        try await store.delete(key)
    }

    package func newRecord(command: String) -> LeaseRecord {
        let now = clock()
        var bytes = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = rng.next() }
        return LeaseRecord(holder: hexString(bytes), host: identity.host, pid: identity.pid,
                           command: command, bootID: identity.bootID, pidNamespace: identity.pidNamespace,
                           acquiredAt: Self.text(now), acquiredAtMillis: Self.millis(now),
                           expiresAt: Self.text(now + duration), expiresAtMillis: Self.millis(now + duration), released: false)
    }

    package func busy(_ record: LeaseRecord, key: String) -> TidemarkError {
        TidemarkError(.busy, "stanza '\(stanza)' in '\(store.location)' is busy: held by \(record.command) pid \(record.pid) on \(record.host) since \(record.acquiredAt), lease until \(record.expiresAt); retry later",
                      hints: ["the holder renews its lease while it runs; if it died, the lease ends by itself at \(record.expiresAt) (on the same host: as soon as its process is gone) and the next command takes over",
                              "the lock is '\(store.location)/\(key)'; never remove it while that command runs"])
    }

    package static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    package static func text(_ date: Date) -> String { date.formatted(.iso8601) }
}

/// A stanza lock's record (`<stanza>/lock/<generation>`, plain JSON so an operator can read it;
/// nothing in it is secret). Times are given twice: milliseconds since the epoch decide,
/// ISO 8601 text is for people.
public struct LeaseRecord: Codable, Sendable, Equatable {
    public var format = "tidemark-lease"
    public var version = 1
    /// Random, per acquisition: what "released only by its holder" compares.
    public var holder: String
    public var host: String
    public var pid: Int32
    public var command: String
    public var bootID: String
    public var pidNamespace: String
    public var acquiredAt: String
    public var acquiredAtMillis: Int64
    public var expiresAt: String
    public var expiresAtMillis: Int64
    public var released: Bool

    package static func decode(_ bytes: [UInt8]) -> LeaseRecord? {
        guard let record = try? JSONDecoder().decode(LeaseRecord.self, from: Data(bytes)), record.format == "tidemark-lease" else { return nil }
        return record
    }

    package func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return Array(try encoder.encode(self)) + [10]
    }
}

/// What makes two processes comparable by pid: the same host name, boot and PID namespace.
package struct HostIdentity: Sendable {
    package var host: String
    package var pid: Int32
    package var bootID: String
    package var pidNamespace: String
    /// True when no process `pid` exists (here); tests inject their own.
    package var processIsGone: @Sendable (Int32) -> Bool

    package static func current() -> HostIdentity {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count - 1)
        let host = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let boot = firstLine(of: "/proc/sys/kernel/random/boot_id")
        var link = [CChar](repeating: 0, count: 128)
        let n = readlink("/proc/self/ns/pid", &link, link.count - 1)
        let namespace = n > 0 ? String(decoding: link.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        return HostIdentity(host: host, pid: getpid(), bootID: boot, pidNamespace: namespace,
                            processIsGone: { pid in kill(pid, 0) != 0 && errno == ESRCH })
    }

    private static func firstLine(of path: String) -> String {
        guard let file = fopen(path, "r") else { return "" }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 128)
        guard fgets(&line, Int32(line.count), file) != nil else { return "" }
        return String(decoding: line.prefix(while: { $0 != 0 && $0 != 10 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Only then does a pid mean the same process; unknown boot or namespace never matches.
    package func sameMachine(as record: LeaseRecord) -> Bool {
        !bootID.isEmpty && !pidNamespace.isEmpty
            && record.host == host && record.bootID == bootID && record.pidNamespace == pidNamespace
    }

    package init(host: String, pid: Int32, bootID: String, pidNamespace: String, processIsGone: @escaping @Sendable (Int32) -> Bool) {
        self.host = host
        self.pid = pid
        self.bootID = bootID
        self.pidNamespace = pidNamespace
        self.processIsGone = processIsGone
    }
}
