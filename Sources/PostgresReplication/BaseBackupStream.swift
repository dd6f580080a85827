import TidemarkSystem
/// The events of one running base backup, for one consumer, with bounded memory.
///
/// Contract:
/// - Consume with `next()` or `for try await event in stream`. The server's data are read only
///   as fast as they are consumed: at most `maxBufferedBytes` (plus one event) wait in memory,
///   then the connection's thread stops reading and the server waits.
/// - The backup is stopped (the server is sent `PQcancel` and the connection is closed, so the
///   server aborts the backup) by `cancel()`, by cancelling the task that waits in `next()`, or
///   by dropping the stream before it ended. A stopped stream's `next()` throws `cancelled`
///   once, promptly, and then returns nil.
/// - After `finished`, `next()` returns nil; the connection is free for other commands. After a
///   server error the connection stays usable; after any other failure it is closed.
/// - The stream keeps its connection alive until it ends.
public final class BaseBackupStream: AsyncSequence, Sendable {
    public typealias Element = BaseBackupEvent

    /// The command that was sent, e.g. `BASE_BACKUP ( LABEL 'nightly', … )`.
    public let command: String
    let channel: BackupChannel
    let connection: ReplicationConnection

    init(command: String, channel: BackupChannel, connection: ReplicationConnection) {
        self.command = command
        self.channel = channel
        self.connection = connection
    }

    deinit {
        channel.cancel()
    }

    /// The next event, nil at the end; suspends (without blocking a thread) until one arrives.
    public func next() async throws -> BaseBackupEvent? {
        try await channel.next()
    }

    /// Stops the backup; see the type's contract. Idempotent; does not wait.
    public func cancel() {
        channel.cancel()
    }

    /// The bound on queued event bytes.
    public var maxBufferedBytes: Int { channel.limit }
    /// The most event bytes that were ever queued at once (debug counter).
    public var peakBufferedBytes: Int { channel.peakBufferedBytes }
    /// Event bytes queued now.
    public var bufferedBytes: Int { channel.bufferedBytes }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let stream: BaseBackupStream
        public mutating func next() async throws -> BaseBackupEvent? {
            try await stream.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(stream: self)
    }
}

extension ReplicationConnection {
    /// Starts `BASE_BACKUP` (wraps `PQsendQuery`, then `PQgetResult`/`PQgetCopyData` on the
    /// connection's thread) and returns its event stream at once.
    ///
    /// The command is built by `BaseBackupOptions.command(serverVersion:)` for this server (new
    /// syntax from 15, legacy before). Throws `invalidArgument` for options the server cannot
    /// take or while another backup streams on this connection, `closed` on a closed connection;
    /// everything the server or the stream does wrong arrives through the stream.
    public func baseBackup(options: BaseBackupOptions) throws -> BaseBackupStream {
        let command = try options.command(serverVersion: serverVersionNumber)
        guard !isClosed else { throw ReplicationError.closedError }
        guard backupRunning.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else {
            throw ReplicationError(.invalidArgument, "unable to start a base backup: one is already streaming on this connection")
        }
        let session = self.session
        let token = OperationToken()
        let channel = BackupChannel(limit: options.maxBufferedBytes) {
            token.cancel()
            session.wake()
        }
        let driver = BaseBackupDriver(
            session: session, channel: channel, token: token, command: command,
            serverVersion: serverVersionNumber, manifestRequested: options.manifest != .no)
        let accepted = session.lane.submit { [self] in
            driver.run { backupRunning.store(false, ordering: .releasing) }
        }
        guard accepted else {
            backupRunning.store(false, ordering: .releasing)
            throw ReplicationError.closedError
        }
        return BaseBackupStream(command: command, channel: channel, connection: self)
    }
}
