import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import TidemarkCore

/// How an SMTP client reaches its server: resolved from the `smtp` section by
/// `NotificationSettings`.
public struct SMTPConfiguration: Sendable {
    public enum Security: Sendable, Equatable {
        /// Never TLS (`startTLS: false`): for a relay on the same host.
        case none
        /// STARTTLS when the server offers it; without it, only a session that sends no
        /// password goes on in clear (`startTLS` not set).
        case startTLSIfOffered
        /// STARTTLS or fail (`startTLS: true`).
        case startTLS
        /// TLS from the first byte (`tls: true`, port 465).
        case implicitTLS
    }

    public var host: String
    public var port: Int
    public var security: Security
    public var username: String?
    public var password: Secret?
    /// The envelope sender and the `From` header.
    public var from: String
    /// PEM file of the certificate authorities to trust instead of the system's.
    public var caFile: String?
    /// Send the password over a connection without TLS. Off by default.
    public var allowInsecureAuth: Bool
    /// The limit of each step: connect, each reply, the TLS handshake.
    public var timeout: Duration
    /// The name this host gives in EHLO.
    public var clientName: String

    public init(
        host: String, port: Int, security: Security, username: String? = nil, password: Secret? = nil, from: String,
        caFile: String? = nil, allowInsecureAuth: Bool = false, timeout: Duration = .seconds(30), clientName: String = "localhost"
    ) {
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.from = from
        self.caFile = caFile
        self.allowInsecureAuth = allowInsecureAuth
        self.timeout = timeout
        self.clientName = clientName
    }
}

/// What the server did with each recipient of a delivered message.
public struct SMTPDelivery: Sendable, Equatable {
    public var accepted: [String]
    /// Each refused recipient with the server's reply to its `RCPT TO`.
    public var refused: [String: SMTPReply]
}

/// A hand-written SMTP client (RFC 5321) for one message at a time: greeting, EHLO (HELO when
/// the server does not know EHLO), STARTTLS or implicit TLS with the server's certificate
/// verified, AUTH PLAIN or LOGIN only over TLS unless `allowInsecureAuth`, MAIL FROM, RCPT TO
/// for each recipient (a refused one does not stop the others), DATA with dot-stuffing, QUIT.
///
/// Errors are `TidemarkError`s naming the step and the server's reply; never the password.
/// Code `.io` for what may pass (timeouts, a closed connection, 4xx replies), otherwise
/// `.configuration` (TLS, authentication, a refused sender) or `.invalidInput`.
public struct SMTPClient: Sendable {
    public let configuration: SMTPConfiguration
    let group: any EventLoopGroup

    public init(configuration: SMTPConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.group = group
    }

    /// Sends `message` (bytes of RFC 5322, e.g. `MailMessage.rendered()`) to `recipients`.
    /// Returns when the server accepted it for at least one recipient; throws when it took it for none.
    public func send(_ message: [UInt8], from: String, to recipients: [String]) async throws -> SMTPDelivery {
        for address in [from] + recipients where !MailEncoding.isPlainAddress(address) {
            throw TidemarkError(.invalidInput, "email: '\(address.prefix(80))' is not a plain mail address (local@domain)")
        }
        guard !recipients.isEmpty else { throw TidemarkError(.invalidInput, "email: no recipients") }
        let c = configuration
        let tlsContext = try c.security == .none ? nil : makeTLSContext()
        let sni = Self.isIPAddress(c.host) ? nil : c.host
        let connection: SMTPConnection
        do {
            connection = try await SMTPConnection.connect(
                host: c.host, port: c.port, tls: c.security == .implicitTLS ? tlsContext : nil, serverHostname: sni, group: group,
                timeout: c.timeout)
        } catch {
            throw failure("connect to \(c.host):\(c.port)", error)
        }
        defer { connection.close() }
        var session = Session(connection: connection, client: self, tls: c.security == .implicitTLS)
        try await session.expect(220, step: "greeting")
        try await session.hello()
        if !session.tls, let tlsContext, c.security != .none {
            if session.capabilities["STARTTLS"] != nil {
                try await session.command("STARTTLS", expect: 220, step: "STARTTLS")
                try await connection.startTLS(tlsContext, serverHostname: sni)
                session.tls = true
                try await session.hello(afterTLS: true)
            } else if c.security == .startTLS {
                throw TidemarkError(.configuration, "email: the SMTP server \(c.host):\(c.port) does not offer STARTTLS",
                                    hints: ["use the server's submission port (587) or its TLS port (465, with smtp.tls: true)",
                                            "or set smtp.startTLS: false for a relay on this host"])
            }
        }
        if let username = c.username { try await session.authenticate(username: username) }
        try await session.command("MAIL FROM:<\(from)>", expect: 250, step: "MAIL FROM")
        var delivery = SMTPDelivery(accepted: [], refused: [:])
        for recipient in recipients {
            let reply = try await session.send("RCPT TO:<\(recipient)>", step: "RCPT TO")
            if reply.code == 250 || reply.code == 251 { delivery.accepted.append(recipient) } else { delivery.refused[recipient] = reply }
        }
        guard !delivery.accepted.isEmpty else {
            _ = try? await session.send("RSET", step: "RSET")
            let replies = recipients.map { "\($0): \(delivery.refused[$0]?.description ?? "?")" }.joined(separator: "; ")
            let temporary = delivery.refused.values.allSatisfy { (400..<500).contains($0.code) }
            throw TidemarkError(temporary ? .io : .invalidInput, "email: the SMTP server refused every recipient (RCPT TO): \(replies)",
                                hints: ["check BACKUP_EMAIL_RECIPIENTS / notifications.email.recipients"])
        }
        try await session.command("DATA", expect: 354, step: "DATA")
        do {
            try await connection.write(SMTPData.encode(message))
        } catch {
            throw failure("DATA", error)
        }
        try await session.expect(250, step: "end of DATA")
        _ = try? await session.send("QUIT", step: "QUIT")
        return delivery
    }

    func makeTLSContext() throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .fullVerification
        if let caFile = configuration.caFile {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw TidemarkError(.configuration, "email: unable to read the certificate authorities in '\(caFile)' (smtp.caFile)",
                                    hints: ["smtp.caFile must be a PEM file of CA certificates readable by this user"])
            }
        }
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw TidemarkError(.configuration, "email: unable to set up TLS: \(SMTPConnection.words(error))")
        }
    }

    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }

    /// `step` failed below the protocol (connection, TLS, time limit): in words, without secrets.
    func failure(_ step: String, _ error: any Error) -> TidemarkError {
        if let error = error as? TidemarkError { return error }
        let c = configuration
        switch error as? SMTPTransportError {
        case .timedOut:
            return TidemarkError(.io, "email: no answer from the SMTP server \(c.host):\(c.port) within \(c.timeout) (\(step))",
                                 hints: ["check smtp.host and smtp.port (465 needs smtp.tls: true; 587 and 25 speak plain SMTP first)"])
        case .closed:
            return TidemarkError(.io, "email: the SMTP server \(c.host):\(c.port) closed the connection (\(step))")
        case .protocolViolation(let what):
            return TidemarkError(.io, "email: the SMTP server \(c.host):\(c.port) broke the protocol (\(step)): \(what)")
        case .tls(let what):
            return TidemarkError(.configuration, "email: TLS with the SMTP server \(c.host):\(c.port) failed (\(step)): \(what)",
                                 hints: ["for a private certificate authority set smtp.caFile to its PEM file",
                                         "the certificate must name smtp.host (\(c.host))"])
        case .connect(let what):
            return TidemarkError(.io, "email: unable to connect to the SMTP server \(c.host):\(c.port): \(what)",
                                 hints: ["check smtp.host and smtp.port, and that the server accepts connections from this host"])
        case nil:
            return TidemarkError(.io, "email: SMTP \(step) failed: \(type(of: error))")
        }
    }
}
