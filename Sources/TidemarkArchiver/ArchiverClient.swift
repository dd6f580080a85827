#if canImport(Glibc)
import Glibc
#endif
import TidemarkConfiguration
import TidemarkCore
import TidemarkSystem

/// `wal-push`'s side of the socket (docs/archiver.md, "What wal-push does"). It needs no key
/// unwrapped and no repository opened: only the socket path and the identity digest.
public enum ArchiverClient {
    public enum Outcome: Sendable, Equatable {
        /// Every required repository holds a verified copy: exit 0. `notices` go to stderr.
        case durable(notices: [String])
        /// Nobody listens on the socket (no archiver, or a dead one's socket file).
        case absent
        /// No answer in time, a closed connection, or an answer not understood.
        case noAnswer(String)
        /// The archiver answered, and not durable (a failed push, another configuration).
        case failed(String)
    }

    /// Asks the archiver at `settings.socketPath` about the file at `path` (absolute). The
    /// greeting and the first answer must come within `answerMilliseconds` each; after
    /// `pushing`, the final answer within `pushSeconds`. Blocking work runs on the pool.
    public static func ask(settings: ArchiverSettings, configuration: Configuration, path: String,
                           pushSeconds: Double) async -> Outcome {
        let answer = Double(settings.answerMilliseconds) / 1000
        let work: @Sendable () -> Outcome = {
            guard let connection = UnixConnection.connect(settings.socketPath) else { return .absent }
            defer { connection.close() }
            guard let line = connection.readLine(deadline: monotonicNanoseconds(after: answer)) else {
                return .noAnswer("no greeting within \(settings.answerMilliseconds) ms")
            }
            guard let greeting = ArchiverProtocol.decode(ArchiverProtocol.Greeting.self, line),
                  greeting.tidemark == "archiver", greeting.version == ArchiverProtocol.version else {
                if let reply = ArchiverProtocol.decode(ArchiverProtocol.Reply.self, line), reply.state == .failed {
                    return .failed(reply.reason ?? "refused")
                }
                return .noAnswer("the greeting was not understood")
            }
            guard let salt = ArchiverIdentity.unhex(greeting.salt), salt.count >= 16,
                  let identity = ArchiverIdentity.digest(salt: salt, configuration: configuration) else {
                return .noAnswer("no identity to offer")
            }
            let request = ArchiverProtocol.Request(ask: FileIO.basename(path), path: path, identity: ArchiverIdentity.hex(identity))
            guard connection.send(ArchiverProtocol.encode(request)) else { return .noAnswer("the request could not be sent") }
            var deadline = monotonicNanoseconds(after: answer)
            while true {
                guard let line = connection.readLine(deadline: deadline) else { return .noAnswer("no answer in time") }
                guard let reply = ArchiverProtocol.decode(ArchiverProtocol.Reply.self, line) else { return .noAnswer("the answer was not understood") }
                switch reply.state {
                case .durable: return .durable(notices: reply.notices ?? [])
                case .failed: return .failed(reply.reason ?? "failed")
                case .pushing: deadline = monotonicNanoseconds(after: pushSeconds)
                }
            }
        }
        do { return try await BlockingPool.shared.run("ask the archiver", work) } catch { return .noAnswer("\(error)") }
    }
}
