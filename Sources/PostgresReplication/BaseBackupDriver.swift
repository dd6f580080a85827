import TidemarkCore
import TidemarkSystem

/// Runs one `BASE_BACKUP` on the session's thread: reads the result sets and the COPY stream,
/// parses the tar archives and pushes events into the channel (blocking there when the consumer
/// is behind, which stops reading from the socket, which makes the server wait: backpressure
/// end to end).
///
/// Contract: `run()` always ends the channel (`finish`). On cancellation it sends `PQcancel`
/// (so a server waiting for a checkpoint or for WAL archiving stops too) and closes the
/// connection. On a server error it reads the remaining results, so the connection stays
/// usable; on any other failure (bad tar, protocol violation, broken connection) it closes it.
/// Confined to the session's thread.
final class BaseBackupDriver: @unchecked Sendable {
    private let session: LibPQSession
    private let channel: BackupChannel
    private let token: OperationToken
    private let command: String
    private let legacy: Bool
    private let manifestRequested: Bool

    private var tar = TarReader()
    private var archiveOpen = false
    private var inManifest = false
    private var manifest: [UInt8] = []
    private var connectionIdle = false

    init(session: LibPQSession, channel: BackupChannel, token: OperationToken, command: String,
         serverVersion: Int, manifestRequested: Bool) {
        self.session = session
        self.channel = channel
        self.token = token
        self.command = command
        self.legacy = serverVersion < 150000
        self.manifestRequested = manifestRequested
    }

    /// Streams the backup; calls `onFinish` (on this thread) just before the channel ends, so
    /// that the connection is free again by the time the consumer sees the end.
    func run(onFinish: () -> Void) {
        var failure: (any Error)?
        do {
            try stream()
        } catch {
            let cancelled = channel.isCancelled || token.isCancelled || (error as? ReplicationError)?.code == .cancelled
            if cancelled {
                session.sendCancelRequest()
                session.close()
                failure = ReplicationError.cancelledError
            } else {
                if !connectionIdle { session.close() }
                failure = error
            }
        }
        onFinish()
        channel.finish(failure)
    }

    /// File bytes not yet sent: CopyData messages are small (tens of KiB), and one channel event
    /// per message costs a consumer wake-up each, so consecutive pieces go out as one event of
    /// up to `coalesceLimit` bytes (1 MiB, or a quarter of the channel's bound if that is
    /// smaller). Any other event sends them first, so order is kept.
    private var pendingData: [UInt8] = []
    private var coalesceLimit: Int { max(1, min(1 << 20, channel.limit / 4)) }

    private func emit(_ event: BaseBackupEvent) throws {
        if case .fileData(let bytes) = event {
            if pendingData.isEmpty {
                pendingData = bytes
                pendingData.reserveCapacity(coalesceLimit)
            } else {
                pendingData.append(contentsOf: bytes)
            }
            if pendingData.count >= coalesceLimit { try flushData() }
            return
        }
        try flushData()
        guard channel.send(event) else { throw ReplicationError.cancelledError }
    }

    private func flushData() throws {
        guard !pendingData.isEmpty else { return }
        let data = pendingData
        pendingData = []
        guard channel.send(.fileData(data)) else { throw ReplicationError.cancelledError }
    }

    private func stream() throws {
        try session.send(command, token: token)
        var tupleResults = 0
        var tablespaces: [TablespaceInfo] = []
        var legacyCopies = 0
        var end: (LSN, TimelineID)?
        var serverError: ServerMessage?
        var archiveError: (any Error)?
        while let result = try session.nextResult(token: token) {
            switch result.status {
            case .tuples:
                if let archiveError { throw archiveError }
                tupleResults += 1
                switch tupleResults {
                case 1:
                    let (lsn, timeline) = try Self.position(result, "start")
                    try emit(.started(startLSN: lsn, timeline: timeline))
                case 2:
                    tablespaces = try Self.tablespaces(result)
                    try emit(.tablespaces(tablespaces))
                case 3:
                    end = try Self.position(result, "end")
                default:
                    throw ReplicationError(.protocol, "unable to take a base backup: unexpected fourth result set")
                }
            case .copyOut:
                if let archiveError { throw archiveError }
                guard tupleResults == 2 else {
                    throw ReplicationError(.protocol, "unable to take a base backup: COPY before the tablespace list")
                }
                if legacy {
                    archiveError = try copyLegacy(index: legacyCopies, tablespaces: tablespaces)
                    legacyCopies += 1
                } else {
                    try copyModern()
                }
            case .command, .emptyQuery:
                continue
            case .error:
                serverError = serverError ?? result.error
            default:
                throw ReplicationError(.protocol, "unable to take a base backup: unexpected result status \(result.status)")
            }
        }
        connectionIdle = true
        if let serverError { throw ReplicationError.server(serverError, doing: "take a base backup", phase: .command) }
        if let archiveError { throw archiveError }
        // The last archive (or the manifest) is closed only now, so that a server error that cut
        // it short is reported as itself rather than as a truncated archive.
        try closeArchive()
        if inManifest {
            inManifest = false
            try emit(.manifest(manifest))
            manifest = []
        }
        guard let (lsn, timeline) = end else {
            throw ReplicationError(.protocol, "unable to take a base backup: the server sent no end position")
        }
        try emit(.finished(endLSN: lsn, timeline: timeline))
    }

    // MARK: PostgreSQL 15+: one COPY with typed messages

    private func copyModern() throws {
        while try session.nextCopyData(token: token, { try handleModern($0) }) {}
    }

    private func handleModern(_ message: UnsafeRawBufferPointer) throws {
        switch try BaseBackupCopyMessage.decode(message) {
        case .newArchive(let name, let location):
            guard !inManifest else {
                throw ReplicationError(.protocol, "unable to take a base backup: an archive after the manifest")
            }
            try closeArchive()
            tar = TarReader()
            archiveOpen = true
            try emit(.archiveStarted(name: name, tablespaceLocation: location))
        case .data:
            let payload = UnsafeRawBufferPointer(rebasing: message[1...])
            if inManifest {
                manifest.append(contentsOf: payload)
            } else {
                guard archiveOpen else {
                    throw ReplicationError(.protocol, "unable to take a base backup: data before any archive")
                }
                try feed(payload)
            }
        case .progress(let bytes):
            try emit(.progress(bytes: bytes))
        case .manifestFollows:
            try closeArchive()
            inManifest = true
        }
    }

    private func feed(_ bytes: UnsafeRawBufferPointer) throws {
        try tar.consume(bytes) { event in
            switch event {
            case .directory(let path, let mode): try emit(.directory(path: path, mode: mode))
            case .symlink(let path, let target): try emit(.symlink(path: path, target: target))
            case .fileStarted(let path, let size, let mode, let modified):
                try emit(.fileStarted(path: path, size: size, mode: mode, modified: modified))
            case .fileData(let bytes): try emit(.fileData(bytes))
            case .fileEnded: try emit(.fileEnded)
            case .endOfArchive: break
            }
        }
    }

    private func closeArchive() throws {
        guard archiveOpen else { return }
        archiveOpen = false
        try tar.finish()
        try emit(.archiveEnded)
    }

    // MARK: PostgreSQL 12–14: one COPY per tablespace, then one for the manifest

    /// Streams the `index`th COPY. Returns (rather than throws) an archive that ended early, so
    /// that the server error which usually explains it is reported instead.
    private func copyLegacy(index: Int, tablespaces: [TablespaceInfo]) throws -> (any Error)? {
        if index < tablespaces.count {
            let tablespace = tablespaces[index]
            tar = TarReader()
            archiveOpen = true
            try emit(.archiveStarted(name: tablespace.oid.map { "\($0).tar" } ?? "base.tar",
                                     tablespaceLocation: tablespace.location))
            while try session.nextCopyData(token: token, { try feed($0) }) {}
            // Before 15 the server omitted the two zero blocks that end a tar archive.
            if !tar.isAtEnd && tar.isBetweenEntries {
                try [UInt8](repeating: 0, count: 2 * TarHeader.blockSize).withUnsafeBytes { try feed($0) }
            }
            do {
                try closeArchive()
            } catch {
                return error
            }
            return nil
        }
        guard index == tablespaces.count, manifestRequested else {
            throw ReplicationError(.protocol, "unable to take a base backup: more COPY streams than tablespaces")
        }
        inManifest = true
        while try session.nextCopyData(token: token, { manifest.append(contentsOf: $0) }) {}
        return nil
    }

    // MARK: Result sets

    private static func position(_ result: QueryResult, _ which: String) throws -> (LSN, TimelineID) {
        guard result.rows.count == 1, let lsn = result.text(0, 0).flatMap({ LSN($0) }),
            let timeline = result.text(0, 1).flatMap({ UInt32($0) })
        else {
            throw ReplicationError(.protocol, "unable to read the \(which) position of the base backup")
        }
        return (lsn, TimelineID(timeline))
    }

    private static func tablespaces(_ result: QueryResult) throws -> [TablespaceInfo] {
        try result.rows.indices.map { row in
            let oidText = result.text(row, 0)
            let sizeText = result.text(row, 2)
            let oid = try oidText.map { text -> UInt32 in
                guard let oid = UInt32(text) else { throw ReplicationError(.protocol, "unable to read tablespace OID '\(text)'") }
                return oid
            }
            let size = try sizeText.map { text -> Int64 in
                guard let size = Int64(text) else { throw ReplicationError(.protocol, "unable to read tablespace size '\(text)'") }
                return size
            }
            return TablespaceInfo(oid: oid, location: result.text(row, 1), estimatedSizeKiB: size)
        }
    }
}
