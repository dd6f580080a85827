import NIOCore
import NIOPosix
import NIOSSL
import TidemarkCore

/// One SMTP reply: its code and its lines' texts (a multi-line reply has several).
public struct SMTPReply: Sendable, Equatable, CustomStringConvertible {
    public var code: Int
    public var lines: [String]
    public var description: String { "\(code) \(lines.joined(separator: " / "))" }
    public var isPositive: Bool { (200..<400).contains(code) }
}

/// Why a connection step failed, before it is put in the client's words.
enum SMTPTransportError: Error {
    case timedOut
    case closed
    case protocolViolation(String)
    case tls(String)
    case connect(String)
}

/// One TCP (or TLS) connection to an SMTP server: write a command line, await the reply, each
/// wait bounded by `timeout`. Runs on NIO's event loops, so nothing blocks the cooperative pool.
final class SMTPConnection: Sendable {
    private let channel: any Channel
    private let handler: SMTPReplyHandler
    let timeout: Duration

    private init(channel: any Channel, handler: SMTPReplyHandler, timeout: Duration) {
        self.channel = channel
        self.handler = handler
        self.timeout = timeout
    }

    /// Connects to `host:port`; with `tls`, TLS starts at once (implicit TLS, port 465).
    static func connect(
        host: String, port: Int, tls: NIOSSLContext?, serverHostname: String?, group: any EventLoopGroup, timeout: Duration
    ) async throws -> SMTPConnection {
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(HTTPDelivery.timeAmount(timeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        let ssl = try NIOSSLClientHandler(context: tls, serverHostname: serverHostname)
                        try channel.pipeline.syncOperations.addHandler(ssl)
                    }
                    try channel.pipeline.syncOperations.addHandler(SMTPReplyHandler())
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            throw SMTPTransportError.connect(Self.words(error))
        }
        let handler = try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: SMTPReplyHandler.self)
        }.get()
        return SMTPConnection(channel: channel, handler: handler, timeout: timeout)
    }

    /// The next complete reply (a greeting, or the answer to the last command).
    func reply() async throws -> SMTPReply {
        let handler = self.handler
        let timeout = HTTPDelivery.timeAmount(self.timeout)
        return try await channel.eventLoop.flatSubmit { handler.next(timeout: timeout) }.get()
    }

    /// Writes `bytes` as they are (a command line with its CRLF, or the DATA section).
    func write(_ bytes: [UInt8]) async throws {
        do {
            try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
        } catch {
            // A failed write (a TLS handshake that failed, a closed connection): the reply
            // handler saw why first; its failure is the one to report.
            _ = try await reply()
            throw SMTPTransportError.closed
        }
    }

    /// Puts TLS under the connection (after the server's 220 to STARTTLS). The handshake runs
    /// when the next command is written; its failure fails that command's reply.
    func startTLS(_ context: NIOSSLContext, serverHostname: String?) async throws {
        let channel = self.channel
        try await channel.eventLoop.submit {
            let ssl = try NIOSSLClientHandler(context: context, serverHostname: serverHostname)
            try channel.pipeline.syncOperations.addHandler(ssl, position: .first)
        }.get()
    }

    func close() {
        channel.close(promise: nil)
    }

    static func words(_ error: any Error) -> String {
        if let error = error as? NIOSSLError { return "TLS: \(error)" }
        if let error = error as? BoringSSLError { return "TLS: \(error)" }
        if let error = error as? NIOSSLExtraError { return "TLS: \(error)" }
        if error is ChannelError, case .connectTimeout = error as? ChannelError { return "connection timed out" }
        if let error = error as? IOError { return "\(error)" }
        return "\(error)"
    }
}

/// Splits the byte stream into reply lines and replies; hands each complete reply to the one
/// waiting `next`. Touched only on its channel's event loop (hence `@unchecked Sendable`: the
/// connection hands it across only to run it there).
final class SMTPReplyHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private var line: [UInt8] = []
    private var pendingLines: [String] = []
    private var pendingCode: Int?
    private var replies: [SMTPReply] = []
    private var failure: SMTPTransportError?
    private var waiting: (promise: EventLoopPromise<SMTPReply>, timer: Scheduled<Void>)?
    private var eventLoop: (any EventLoop)?

    func handlerAdded(context: ChannelHandlerContext) {
        eventLoop = context.eventLoop
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        for byte in buffer.readableBytesView {
            if byte == 10 {
                if line.last == 13 { line.removeLast() }
                take(line: line, context: context)
                line = []
            } else {
                line.append(byte)
                if line.count > 4096 {
                    fail(.protocolViolation("a reply line longer than 4,096 bytes"))
                    context.close(promise: nil)
                    return
                }
            }
        }
    }

    private func take(line bytes: [UInt8], context: ChannelHandlerContext) {
        let text = String(decoding: bytes, as: UTF8.self)
        let digits = bytes.prefix(3)
        guard digits.count == 3, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }), let code = Int(String(decoding: digits, as: UTF8.self)),
              bytes.count == 3 || bytes[3] == 32 || bytes[3] == 45
        else {
            fail(.protocolViolation("not an SMTP reply: \(text.prefix(80))"))
            context.close(promise: nil)
            return
        }
        if let pendingCode, pendingCode != code {
            fail(.protocolViolation("a multi-line reply changed its code from \(pendingCode) to \(code)"))
            context.close(promise: nil)
            return
        }
        pendingCode = code
        pendingLines.append(bytes.count > 4 ? String(text.dropFirst(4)) : "")
        guard pendingLines.count <= 200 else {
            fail(.protocolViolation("a reply of more than 200 lines"))
            context.close(promise: nil)
            return
        }
        if bytes.count == 3 || bytes[3] == 32 {
            replies.append(SMTPReply(code: code, lines: pendingLines))
            pendingLines = []
            self.pendingCode = nil
            deliver()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(.tls(SMTPConnection.words(error)))
        context.close(promise: nil)
    }

    /// The next reply, or a failure: the connection's, or `timedOut` after `timeout`.
    func next(timeout: TimeAmount) -> EventLoopFuture<SMTPReply> {
        guard let eventLoop else { return MultiThreadedEventLoopGroup.singleton.next().makeFailedFuture(SMTPTransportError.closed) }
        if !replies.isEmpty { return eventLoop.makeSucceededFuture(replies.removeFirst()) }
        if let failure { return eventLoop.makeFailedFuture(failure) }
        let promise = eventLoop.makePromise(of: SMTPReply.self)
        let timer = eventLoop.scheduleTask(in: timeout) { [self] in
            guard let waiting, waiting.promise.futureResult === promise.futureResult else { return }
            self.waiting = nil
            promise.fail(SMTPTransportError.timedOut)
        }
        waiting = (promise, timer)
        return promise.futureResult
    }

    private func deliver() {
        guard let current = waiting, !replies.isEmpty else { return }
        waiting = nil
        current.timer.cancel()
        current.promise.succeed(replies.removeFirst())
    }

    private func fail(_ error: SMTPTransportError) {
        // The first failure explains the others (a TLS alert, then the close it causes).
        if failure == nil { failure = error }
        guard let current = waiting else { return }
        waiting = nil
        current.timer.cancel()
        current.promise.fail(failure ?? error)
    }
}
