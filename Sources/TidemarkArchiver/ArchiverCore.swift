#if canImport(Glibc)
import Glibc
#endif
import TidemarkPolicy
import TidemarkSystem

/// What identifies the file a push read: a durable answer holds only for the same file.
struct FileStamp: Sendable, Equatable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modifiedNanoseconds: Int64

    /// lstat of `path`; nil when it is missing. Blocking (one system call).
    static func of(_ path: String) -> FileStamp? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return FileStamp(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
                         modifiedNanoseconds: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
    }
}

/// How one push ended.
struct PushResult: Sendable {
    var stamp: FileStamp?
    var outcome: Result<[String], PushFailure>
}

struct PushFailure: Error, Sendable {
    var reason: String
}

/// The archiver's state across awaits: the pure `ArchiverQueue`, the clients waiting for an
/// answer, the stamps of durable files. It performs the queue's actions: a push runs as a
/// task of its own through `push`, an answer goes to the client's stream.
actor ArchiverCore {
    private var queue: ArchiverQueue
    private var clients: [UInt64: AsyncStream<ArchiverProtocol.Reply>.Continuation] = [:]
    private var nextClient: UInt64 = 1
    private var stamps: [String: FileStamp] = [:]
    private var notices: [String: [String]] = [:]
    private var running: [String: Task<Void, Never>] = [:]
    private(set) var lastActivity: Double
    private let push: @Sendable (String) async -> PushResult
    private let clock: @Sendable () -> Double
    private var stopped = false

    init(workers: Int, clock: @escaping @Sendable () -> Double = monotonicSeconds,
         push: @escaping @Sendable (String) async -> PushResult) {
        queue = ArchiverQueue(workers: workers, retryBaseSeconds: 1, retryMaxSeconds: 30)
        self.push = push
        self.clock = clock
        lastActivity = clock()
    }

    var backlog: Int { queue.backlog }
    var isIdle: Bool { queue.isIdle && running.isEmpty }

    func rescan(ready: Set<String>) {
        let before = queue.backlog
        perform(queue.rescan(ready: ready, now: clock()))
        if queue.backlog != before { lastActivity = clock() }
    }

    func tick() { perform(queue.tick(now: clock())) }

    /// A client asks about `name`; `stamp` is the file as the connection sees it now. Returns
    /// the client's id (for `clientGone`).
    func ask(name: String, stamp: FileStamp?, answers: AsyncStream<ArchiverProtocol.Reply>.Continuation) -> UInt64 {
        lastActivity = clock()
        let id = nextClient
        nextClient += 1
        guard !stopped else {
            answers.yield(.init(.failed, reason: "the archiver is stopping"))
            answers.finish()
            return id
        }
        clients[id] = answers
        if queue.state(of: name) == .durable, stamps[name] != stamp || stamp == nil {
            stamps[name] = nil
            perform(queue.invalidate(name, now: clock()))
        }
        perform(queue.ask(client: id, name: name, now: clock()))
        return id
    }

    func clientGone(_ id: UInt64) {
        queue.clientGone(id)
        clients.removeValue(forKey: id)?.finish()
    }

    var runningCount: Int { running.count }

    /// No new pushes; every waiting client hears `failed` (it pushes itself). The pushes still
    /// running go on (the caller waits for them, bounded, or abandons them).
    func stop() {
        stopped = true
        for (_, client) in clients {
            client.yield(.init(.failed, reason: "the archiver is stopping"))
            client.finish()
        }
        clients = [:]
    }

    private func finished(_ name: String, _ result: PushResult) {
        running[name] = nil
        lastActivity = clock()
        switch result.outcome {
        case .success(let lines):
            stamps[name] = result.stamp
            notices[name] = lines.isEmpty ? nil : lines
            perform(queue.pushSucceeded(name, now: clock()))
        case .failure(let failure):
            perform(queue.pushFailed(name, reason: failure.reason, now: clock()))
        }
    }

    private func perform(_ actions: [ArchiverQueue.Action]) {
        for action in actions {
            switch action {
            case .startPush(let name):
                guard !stopped else { continue }
                let push = self.push
                running[name] = Task { [weak self] in
                    let result = await push(name)
                    await self?.finished(name, result)
                }
            case .answer(let client, let name, let answer):
                guard let stream = clients[client] else { continue }
                switch answer {
                case .durable:
                    stream.yield(.init(.durable, notices: notices[name]))
                case .pushing:
                    stream.yield(.init(.pushing))
                case .failed(let reason):
                    stream.yield(.init(.failed, reason: reason))
                }
                if answer.isFinal {
                    stream.finish()
                    clients[client] = nil
                }
            }
        }
    }
}
