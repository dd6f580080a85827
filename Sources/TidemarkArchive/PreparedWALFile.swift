import Synchronization
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository

/// The part of `wal-push` that needs no repository, started as soon as the command has its
/// path: the file is mapped, and its XXH3-128 (the checksum WAL objects carry, docs/format.md)
/// and WAL facts are computed on threads of their own while the configuration is read, the
/// repository key unwrapped (scrypt) and the stanza checked; started first they are done by
/// the time the chunks are sealed, instead of after them.
///
/// Computed once, the checksum serves every repository of a push (`MultiPush`) and the
/// comparison with a copy archived before. The SHA-256 (a conflict names it; objects archived
/// before XXH3-128 carry it) is computed only when asked for. `start` returns nil when the path is not a readable WAL file; the
/// push then reports the problem in its own words.
public final class PreparedWALFile: Sendable {
    public let path: String
    package let name: WALFileName
    package let file: LocalFile
    private let digest: ThreadFuture<[UInt8]>
    private let facts: ThreadFuture<WALSummaryFacts?>
    private let sha256Digest: Mutex<ThreadFuture<[UInt8]>?> = Mutex(nil)

    private init(path: String, name: WALFileName, file: LocalFile) {
        self.path = path
        self.name = name
        self.file = file
        // The closures hold the file, so its mapping outlives them whatever becomes of `self`.
        digest = ThreadFuture { XXH3Hasher.hash(file.bytes) }
        facts = ThreadFuture { [name] in Self.scanFacts(file.bytes, name: name) }
    }

    /// Maps the WAL file at `path` and starts the work; the errors are the DBA's (not a WAL
    /// file name, no such file, permission denied, not a regular file).
    public static func open(path: String) throws -> PreparedWALFile {
        let base = FileIO.basename(path)
        guard let name = WALFileName(base) else {
            throw TidemarkError(.invalidInput, "'\(path)' is not a WAL file: '\(base)' is not a WAL segment, .history, .backup or .partial name",
                                hints: ["archive_command must pass %p, e.g. archive_command = 'tidemark wal-push %p'"])
        }
        return PreparedWALFile(path: path, name: name, file: try LocalFile(path: path))
    }

    /// As `open`, or nil; the push then reports the problem itself.
    public static func start(path: String) -> PreparedWALFile? { try? open(path: path) }

    /// The XXH3-128 of the whole file (canonical form), the checksum its WAL object carries.
    package func xxh3() async -> [UInt8] { await digest.value() }

    /// The file's checksum of `kind`: XXH3-128 from the thread started with the push, SHA-256
    /// computed on first use (rare: a conflict, or a copy archived before XXH3-128).
    package func digest(_ kind: PlaintextDigestKind) async -> [UInt8] {
        switch kind {
        case .xxh3: await xxh3()
        case .sha256: await sha256()
        case .none: []
        }
    }

    /// The SHA-256 of the whole file, computed on a thread on first use.
    package func sha256() async -> [UInt8] {
        let future = sha256Digest.withLock { f in
            if let f { return f }
            let file = self.file
            let made = ThreadFuture {
                var hasher = ContentHasher()
                hasher.update(file.bytes)
                return hasher.finalize()
            }
            f = made
            return made
        }
        return await future.value()
    }

    /// The WAL facts of a segment or `.partial` whose header is a WAL header; nil otherwise.
    package func walFacts() async -> WALSummaryFacts? { await facts.value() }

    /// Runs `body`, then waits for the threads still reading the file, whether `body` succeeded
    /// or threw, so that none of them outlives the push: a file truncated or replaced after a
    /// failed push would fault (SIGBUS) under a thread still reading its mapping.
    package func use<T>(_ body: (PreparedWALFile) async throws -> T) async throws -> T {
        do {
            let result = try await body(self)
            await settle()
            return result
        } catch {
            await settle()
            throw error
        }
    }

    private func settle() async {
        _ = await digest.value()
        _ = await facts.value()
        if let sha = sha256Digest.withLock({ $0 }) { _ = await sha.value() }
    }

    package static func scanFacts(_ bytes: UnsafeRawBufferPointer, name: WALFileName) -> WALSummaryFacts? {
        guard let segment = name.segment,
              let header = try? WALLongPageHeader(parsing: bytes.prefix(WALLongPageHeader.size)),
              let size = WALSegmentSize(rawValue: UInt64(header.segmentSize)) else { return nil }
        return WALSummaryFacts(scan: WALSegmentScan.scan(bytes, name: segment, size: size))
    }
}

/// A value computed on a `BlockingPool` thread (not a task thread: the work is seconds of CPU at
/// worst and must not hold up the tasks doing I/O meanwhile), awaited without blocking. If no
/// thread can be started, the work runs when the value is first awaited.
package final class ThreadFuture<T: Sendable>: Sendable {
    private enum State {
        case pending(@Sendable () -> T)
        case running([CheckedContinuation<T, Never>])
        case done(T)
    }
    private let state: Mutex<State>

    package init(_ work: @escaping @Sendable () -> T) {
        state = Mutex(.running([]))
        let started = BlockingPool.shared.submit { [self] in self.complete(work()) }
        if !started { state.withLock { $0 = .pending(work) } }
    }

    package func value() async -> T {
        let work: (@Sendable () -> T)? = state.withLock { s in
            if case .pending(let w) = s {
                s = .running([])
                return w
            }
            return nil
        }
        if let work { complete(work()) }
        return await withCheckedContinuation { continuation in
            let ready: T? = state.withLock { s in
                switch s {
                case .done(let v):
                    return v
                case .running(let waiters):
                    s = .running(waiters + [continuation])
                    return nil
                case .pending:
                    // Unreachable: claimed above.
                    s = .running([continuation])
                    return nil
                }
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private func complete(_ v: T) {
        let waiters: [CheckedContinuation<T, Never>] = state.withLock { s in
            defer { s = .done(v) }
            if case .running(let w) = s { return w }
            return []
        }
        for w in waiters { w.resume(returning: v) }
    }
}
