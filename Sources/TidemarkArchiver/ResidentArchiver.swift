#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle
import Synchronization
import Tidemark
import TidemarkArchive
import TidemarkConfiguration
import TidemarkCore
import TidemarkSystem

/// `tidemark archiver` (and the archiver inside `tidemark serve`): pushes the `.ready` files of
/// one data directory's pg_wal ahead of PostgreSQL and answers `wal-push` over its socket
/// (docs/archiver.md). It holds one `Engine`, so every repository is opened and its key
/// unwrapped once; each push is the same as `wal-push`'s (durable, verified, never overwriting,
/// every required repository). It never renames or removes anything in pg_wal: PostgreSQL
/// marks a file `.done` when its `wal-push` exits 0.
///
/// It ends on graceful shutdown (SIGTERM, SIGINT: the service group), or after `idleMinutes`
/// without work; waiting clients are told `failed` (they push themselves), running pushes get
/// a few seconds to finish and are otherwise abandoned (a push is atomic: a killed one leaves
/// nothing or the whole object).
public final class ResidentArchiver: Service, Sendable {
    public let engine: Engine
    public let settings: ArchiverSettings
    public let dataDirectory: String
    let logger: Logger
    let core: ArchiverCore
    private let stop = AsyncStream<Void>.makeStream()
    private let backlogReport = Mutex<(@Sendable (Int) -> Void)?>(nil)
    private let walDirectory: String

    public convenience init(engine: Engine, settings: ArchiverSettings, dataDirectory: String, logger: Logger) {
        self.init(engine: engine, settings: settings, dataDirectory: dataDirectory, logger: logger) { path in
            try await engine.walPushKeepingRepositoriesOpen(path: path)
        }
    }

    /// `push` makes one file durable and returns wal-push's lines (tests give their own).
    package init(engine: Engine, settings: ArchiverSettings, dataDirectory: String, logger: Logger,
                 push: @escaping @Sendable (String) async throws -> [String]) {
        self.engine = engine
        self.settings = settings
        let data = FileIO.absolute(dataDirectory)
        self.dataDirectory = data.count > 1 && data.hasSuffix("/") ? String(data.dropLast()) : data
        self.logger = logger
        let wal = self.dataDirectory + "/pg_wal"
        walDirectory = wal
        core = ArchiverCore(workers: settings.workers) { name in
            let path = wal + "/" + name
            let stamp = try? await BlockingPool.shared.run("stat \(path)") { FileStamp.of(path) }
            do {
                let lines = try await push(path)
                logger.debug("archiver pushed", metadata: ["wal.file": "\(name)"])
                return PushResult(stamp: stamp ?? nil, outcome: .success(lines))
            } catch {
                let reason = (error as? TidemarkError)?.message ?? "\(error)"
                logger.warning("archiver push failed", metadata: ["wal.file": "\(name)", "error": "\(reason)"])
                return PushResult(stamp: stamp ?? nil, outcome: .failure(PushFailure(reason: reason)))
            }
        }
    }

    /// Ready files not yet durable (the `tidemark_archive_backlog_segments` metric).
    public func backlog() async -> Int { await core.backlog }

    /// `report` gets the backlog every quarter of a second while the archiver runs (serve's
    /// `tidemark_archive_backlog_segments`).
    public func reportBacklog(_ report: @escaping @Sendable (Int) -> Void) { backlogReport.withLock { $0 = report } }

    /// Asks the archiver to stop (as a graceful shutdown would).
    public func requestStop() { stop.continuation.yield() }

    public func run() async throws {
        guard PrefetchSpool.isDataDirectory(dataDirectory) else {
            throw TidemarkError(.configuration, "'\(dataDirectory)' is not a PostgreSQL data directory (no global/pg_control)",
                                hints: ["give the data directory whose pg_wal the archiver pushes: tidemark archiver --data-directory DIR"])
        }
        let listener = try ArchiverListener(settings: settings)
        defer { listener.close() }
        // The key is unwrapped once, now; a repository that cannot be opened now is opened by
        // the first push that needs it (its error then goes to that push's client).
        do {
            try await engine.reopenReplacedRepositories()
            _ = try await engine.openRepositories()
        } catch {
            logger.warning("archiver could not open every repository yet", metadata: ["error": "\((error as? TidemarkError)?.message ?? "\(error)")"])
        }
        let (core, walDirectory, settings, logger, dataDirectory) = (self.core, self.walDirectory, self.settings, self.logger, self.dataDirectory)
        let configuration = engine.configuration
        let stopper = stop.continuation
        // Identity mismatches in a row: the configuration wal-push reads has changed (a new key,
        // another repository). After a few, this archiver gives way; the next wal-push starts
        // one with the configuration it reads now.
        let mismatches = LockedBox(0)
        guard listener.start({ connection in
            Task {
                let matched = await Self.serve(connection, core: core, configuration: configuration, walDirectory: walDirectory,
                                               answerMilliseconds: settings.answerMilliseconds)
                guard let matched else { return }
                var giveWay = false
                mismatches.mutate { count in
                    count = matched ? 0 : count + 1
                    giveWay = count >= Self.mismatchesBeforeGivingWay
                }
                if giveWay {
                    logger.notice("archiver stopping: wal-push keeps presenting another configuration", metadata: ["socket": "\(settings.socketPath)"])
                    stopper.yield()
                }
            }
        }) else { throw TidemarkError(.io, "unable to start the archiver's socket thread") }
        let watcher = ReadyWatcher(dataDirectory: dataDirectory, rescanSeconds: settings.rescanSeconds)
        guard watcher.start({ names in Task { await core.rescan(ready: names) } }, gone: {
            logger.notice("archiver stopping: its data directory is gone", metadata: ["data.directory": "\(dataDirectory)"])
            stopper.yield()
        }) else {
            throw TidemarkError(.io, "unable to start the archiver's watch thread")
        }
        defer { watcher.stop() }
        logger.notice("archiver started", metadata: ["socket": "\(settings.socketPath)", "data.directory": "\(dataDirectory)",
                                                    "workers": "\(settings.workers)"])
        let stopStream = stop.stream
        let idleSeconds = settings.idleMinutes * 60
        let report = backlogReport.withLock { $0 }
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { for await _ in stopStream { break } }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(250))
                        await core.tick()
                        if let report { report(await core.backlog) }
                        if idleSeconds > 0, await core.isIdle, monotonicSeconds() - (await core.lastActivity) >= idleSeconds { break }
                    }
                }
                _ = await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: { [stop] in
            stop.continuation.yield()
        }
        listener.close()
        watcher.stop()
        await core.stop()
        let deadline = monotonicSeconds() + 10
        while await core.runningCount > 0, monotonicSeconds() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        logger.notice("archiver stopped", metadata: ["socket": "\(settings.socketPath)"])
    }

    /// Identity mismatches in a row after which the archiver stops (its configuration is no
    /// longer the one wal-push reads).
    static let mismatchesBeforeGivingWay = 3

    /// One client: greeting (a fresh salt), its request, then the answers until a final one.
    /// Returns whether its identity matched (nil: no request came).
    @discardableResult
    static func serve(_ connection: UnixConnection, core: ArchiverCore, configuration: Configuration,
                      walDirectory: String, answerMilliseconds: Int) async -> Bool? {
        defer { connection.close() }
        let salt = (0..<32).map { _ in UInt8.random(in: 0...255) }
        let greeting = ArchiverProtocol.encode(ArchiverProtocol.Greeting(salt: ArchiverIdentity.hex(salt)))
        let deadline = monotonicNanoseconds(after: max(5, Double(answerMilliseconds) / 1000 * 2))
        let request = try? await BlockingPool.shared.run("archiver request") { () -> ArchiverProtocol.Request? in
            guard connection.send(greeting), let line = connection.readLine(deadline: deadline) else { return nil }
            return ArchiverProtocol.decode(ArchiverProtocol.Request.self, line)
        }
        guard let request = request ?? nil else { return nil }
        func refuse(_ reason: String) async {
            _ = try? await BlockingPool.shared.run("archiver answer") { connection.send(ArchiverProtocol.encode(ArchiverProtocol.Reply(.failed, reason: reason))) }
        }
        guard request.version == ArchiverProtocol.version else {
            await refuse("protocol version \(request.version) is not \(ArchiverProtocol.version)")
            return nil
        }
        guard let expected = ArchiverIdentity.digest(salt: salt, configuration: configuration),
              let given = ArchiverIdentity.unhex(request.identity), ArchiverIdentity.matches(given, expected) else {
            await refuse("different configuration: this archiver serves another key, repository list or stanza")
            return false
        }
        let name = request.ask
        let path = walDirectory + "/" + name
        let looked = try? await BlockingPool.shared.run("stat \(path)") {
            (Self.sameDirectory(FileIO.parent(request.path), walDirectory), FileStamp.of(path))
        }
        guard !name.isEmpty, !name.contains("/"), name != ".", name != "..", FileIO.basename(request.path) == name,
              let (inside, stamp) = looked, inside else {
            await refuse("'\(request.path)' is not a file of \(walDirectory)")
            return true
        }
        let (answers, continuation) = AsyncStream<ArchiverProtocol.Reply>.makeStream()
        let id = await core.ask(name: name, stamp: stamp, answers: continuation)
        for await reply in answers {
            let sent = (try? await BlockingPool.shared.run("archiver answer") { connection.send(ArchiverProtocol.encode(reply)) }) ?? false
            if !sent || reply.isFinal { break }
        }
        await core.clientGone(id)
        return true
    }

    /// True when both paths name the same directory (device and inode).
    static func sameDirectory(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }
}
