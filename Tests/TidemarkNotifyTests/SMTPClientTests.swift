import Foundation
import Testing
import TidemarkCore
import TidemarkTesting
@testable import TidemarkNotify

#if canImport(Glibc)
import Glibc
#endif

/// The hand-written SMTP client against a real aiosmtpd on loopback.
@Suite("Notify: SMTP client against aiosmtpd", .tags(.large), .timeLimit(.minutes(3)), .serialized)
struct SMTPClientTests {
    static let password = "s3cret-Pa55"

    func config(_ server: SMTPServerFixture, _ security: SMTPConfiguration.Security, host: String = "127.0.0.1", caFile: String? = nil,
                username: String? = nil, password: String? = nil, allowInsecureAuth: Bool = false, timeout: Duration = .seconds(10)) -> SMTPConfiguration {
        SMTPConfiguration(
            host: host, port: Int(server.port), security: security, username: username, password: password.map { Secret(Array($0.utf8)) },
            from: "tidemark@db1.example", caFile: caFile, allowInsecureAuth: allowInsecureAuth, timeout: timeout, clientName: "db1.example")
    }

    func message(subject: String = "backup failed", body: String = "line one\nline two\n") -> MailMessage {
        MailMessage(from: "tidemark@db1.example", to: ["ops@example.org"], subject: subject, body: body,
                    date: Date(timeIntervalSince1970: 1_796_227_200), messageID: "fixed-id@db1.example")
    }

    @Test func plainDeliveryArrivesByteForByte() async throws {
        let server = try await SMTPServerFixture.start()
        let m = message()
        let client = SMTPClient(configuration: config(server, .none))
        let delivery = try await client.send(m.rendered(), from: m.from, to: m.to)
        #expect(delivery.accepted == ["ops@example.org"])
        let received = try server.received()
        try #require(received.count == 1)
        #expect(received[0].raw == m.rendered())
        #expect(received[0].mailFrom == "tidemark@db1.example")
        #expect(received[0].recipients == ["ops@example.org"])
        #expect(received[0].body.replacingOccurrences(of: "\r\n", with: "\n") == "line one\nline two\n")
    }

    @Test func nonASCIISubjectAndDotLinesArriveIntact() async throws {
        let server = try await SMTPServerFixture.start()
        let subject = "tidemark main@db1: sauvegarde « incrémentale » échouée ✗ — " + String(repeating: "ß", count: 25)
        let body = ".hidden line\n.\n..two dots\nend = é\n"
        let m = message(subject: subject, body: body)
        _ = try await SMTPClient(configuration: config(server, .none)).send(m.rendered(), from: m.from, to: m.to)
        let received = try server.received()
        try #require(received.count == 1)
        #expect(received[0].raw == m.rendered())  // dot-stuffing undone exactly
        // What went over the wire is 7-bit: the subject as encoded-words, the body quoted-printable.
        #expect(received[0].raw.allSatisfy { $0 < 128 })
        #expect(received[0].rawText.contains("\r\nSubject: =?utf-8?B?"))
        #expect(received[0].rawText.hasSuffix("\r\n\r\n.hidden line\r\n.\r\n..two dots\r\nend =3D =C3=A9\r\n"))
        #expect(received[0].subject == subject)   // Python's email package decodes our encoded-words
        #expect(received[0].body.replacingOccurrences(of: "\r\n", with: "\n") == body)
    }

    @Test func startTLSWithAPrivateCA() async throws {
        let scratch = try ScratchDirectory(prefix: "smtp-certs", mode: 0o700)
        let certs = try SMTPServerFixture.makeCertificates(in: scratch.path)
        var options = SMTPServerFixture.Options()
        options.certificate = (certs.cert, certs.key)
        options.requireStartTLS = true
        let server = try await SMTPServerFixture.start(options)
        let m = message()
        for host in ["127.0.0.1", "localhost"] {
            _ = try await SMTPClient(configuration: config(server, .startTLS, host: host, caFile: certs.ca)).send(m.rendered(), from: m.from, to: m.to)
        }
        #expect(try server.received().count == 2)
        // Opportunistic STARTTLS takes it too.
        _ = try await SMTPClient(configuration: config(server, .startTLSIfOffered, caFile: certs.ca)).send(m.rendered(), from: m.from, to: m.to)
        #expect(try server.received().count == 3)
    }

    @Test func startTLSRefusesAnUntrustedCertificate() async throws {
        let scratch = try ScratchDirectory(prefix: "smtp-certs", mode: 0o700)
        let certs = try SMTPServerFixture.makeCertificates(in: scratch.path, name: "real")
        let other = try SMTPServerFixture.makeCertificates(in: scratch.path, name: "other")
        var options = SMTPServerFixture.Options()
        options.certificate = (certs.cert, certs.key)
        let server = try await SMTPServerFixture.start(options)
        let m = message()
        let error = await #expect(throws: TidemarkError.self) {
            _ = try await SMTPClient(configuration: config(server, .startTLSIfOffered, caFile: other.ca)).send(m.rendered(), from: m.from, to: m.to)
        }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("TLS") == true)
        #expect(error?.hints.contains { $0.contains("smtp.caFile") } == true)
        #expect(try server.received().isEmpty)
    }

    @Test func startTLSRequiredButNotOffered() async throws {
        let server = try await SMTPServerFixture.start()
        let m = message()
        let error = await #expect(throws: TidemarkError.self) {
            _ = try await SMTPClient(configuration: config(server, .startTLS)).send(m.rendered(), from: m.from, to: m.to)
        }
        #expect(error?.message.contains("does not offer STARTTLS") == true)
        #expect(try server.received().isEmpty)
    }

    @Test func implicitTLS() async throws {
        let scratch = try ScratchDirectory(prefix: "smtp-certs", mode: 0o700)
        let certs = try SMTPServerFixture.makeCertificates(in: scratch.path)
        var options = SMTPServerFixture.Options()
        options.certificate = (certs.cert, certs.key)
        options.implicitTLS = true
        options.login = ("tidemark", Self.password)
        let server = try await SMTPServerFixture.start(options)
        let m = message()
        _ = try await SMTPClient(configuration: config(server, .implicitTLS, caFile: certs.ca, username: "tidemark", password: Self.password))
            .send(m.rendered(), from: m.from, to: m.to)
        #expect(try server.received().count == 1)
        #expect(server.authAttempts() == ["PLAIN tidemark ok"])
    }

    @Test func authOverStartTLS() async throws {
        let scratch = try ScratchDirectory(prefix: "smtp-certs", mode: 0o700)
        let certs = try SMTPServerFixture.makeCertificates(in: scratch.path)
        var options = SMTPServerFixture.Options()
        options.certificate = (certs.cert, certs.key)
        options.login = ("tidemark", Self.password)
        let server = try await SMTPServerFixture.start(options)
        let m = message()
        _ = try await SMTPClient(configuration: config(server, .startTLS, caFile: certs.ca, username: "tidemark", password: Self.password))
            .send(m.rendered(), from: m.from, to: m.to)
        #expect(try server.received().count == 1)
        #expect(server.authAttempts() == ["PLAIN tidemark ok"])

        // A wrong password: the error names the step and the reply, never the password.
        let wrong = "wrong-Pa55word"
        let error = await #expect(throws: TidemarkError.self) {
            _ = try await SMTPClient(configuration: config(server, .startTLS, caFile: certs.ca, username: "tidemark", password: wrong))
                .send(m.rendered(), from: m.from, to: m.to)
        }
        #expect(error?.message.contains("AUTH PLAIN") == true)
        #expect(error?.message.contains("535") == true)
        #expect(error?.description.contains(wrong) == false)
        #expect(error?.description.contains(Data(("\0tidemark\0" + wrong).utf8).base64EncodedString()) == false)
        #expect(try server.received().count == 1)
    }

    @Test func authLoginWhenPlainIsNotOffered() async throws {
        let scratch = try ScratchDirectory(prefix: "smtp-certs", mode: 0o700)
        let certs = try SMTPServerFixture.makeCertificates(in: scratch.path)
        var options = SMTPServerFixture.Options()
        options.certificate = (certs.cert, certs.key)
        options.login = ("tidemark", Self.password)
        options.loginMechanismOnly = true
        let server = try await SMTPServerFixture.start(options)
        let m = message()
        _ = try await SMTPClient(configuration: config(server, .startTLS, caFile: certs.ca, username: "tidemark", password: Self.password))
            .send(m.rendered(), from: m.from, to: m.to)
        #expect(server.authAttempts() == ["LOGIN tidemark ok"])
        #expect(try server.received().count == 1)
    }

    @Test func noPasswordInClearText() async throws {
        var options = SMTPServerFixture.Options()
        options.login = ("tidemark", Self.password)
        options.authWithoutTLS = true  // the server would take it in clear
        let server = try await SMTPServerFixture.start(options)
        let m = message()
        let error = await #expect(throws: TidemarkError.self) {
            _ = try await SMTPClient(configuration: config(server, .startTLSIfOffered, username: "tidemark", password: Self.password))
                .send(m.rendered(), from: m.from, to: m.to)
        }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("without TLS") == true)
        #expect(error?.hints.contains { $0.contains("allowInsecureAuth") } == true)
        #expect(server.authAttempts().isEmpty)  // nothing was sent
        #expect(try server.received().isEmpty)

        // Allowed explicitly, it logs in over the plain connection.
        _ = try await SMTPClient(configuration: config(server, .none, username: "tidemark", password: Self.password, allowInsecureAuth: true))
            .send(m.rendered(), from: m.from, to: m.to)
        #expect(server.authAttempts() == ["PLAIN tidemark ok"])
        #expect(try server.received().count == 1)
    }

    @Test func aRefusedRecipientDoesNotStopTheOthers() async throws {
        var options = SMTPServerFixture.Options()
        options.refusedRecipients = ["gone@example.org"]
        let server = try await SMTPServerFixture.start(options)
        let channel = EmailChannel(configuration: config(server, .none), recipients: ["ops@example.org", "gone@example.org", "dba@example.org"])
        let error = await #expect(throws: TidemarkError.self) { try await channel.send(sampleNotification()) }
        #expect(error?.code == .invalidInput)  // permanent: the Notifier does not send the others a second copy
        #expect(error?.message.contains("gone@example.org: 550") == true)
        #expect(error?.message.contains("2 of 3") == true)
        let received = try server.received()
        try #require(received.count == 1)
        #expect(received[0].recipients == ["ops@example.org", "dba@example.org"])
        #expect(received[0].subject == "tidemark main@db1: backup 'incremental' failed")
        #expect(received[0].body.contains("HINT: is the server running?"))
        #expect(received[0].body.contains("job: incremental"))
    }

    @Test func everyRecipientRefused() async throws {
        var options = SMTPServerFixture.Options()
        options.refusedRecipients = ["gone@example.org"]
        let server = try await SMTPServerFixture.start(options)
        let m = message()
        let error = await #expect(throws: TidemarkError.self) {
            _ = try await SMTPClient(configuration: config(server, .none)).send(m.rendered(), from: m.from, to: ["gone@example.org"])
        }
        #expect(error?.message.contains("refused every recipient") == true)
        #expect(try server.received().isEmpty)
    }

    @Test func aServerThatDoesNotAnswerTimesOut() async throws {
        // A socket that listens but never accepts: the kernel completes the TCP handshake, no greeting ever comes.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        try #require(bound == 0 && listen(fd, 8) == 0)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let configuration = SMTPConfiguration(host: "127.0.0.1", port: port, security: .none, from: "tidemark@db1.example", timeout: .milliseconds(700))
        let started = ContinuousClock.now
        let error = await #expect(throws: TidemarkError.self) {
            _ = try await SMTPClient(configuration: configuration).send(Array("x\r\n".utf8), from: "tidemark@db1.example", to: ["ops@example.org"])
        }
        let elapsed = ContinuousClock.now - started
        #expect(error?.code == .io)
        #expect(error?.message.contains("no answer") == true)
        #expect(error?.message.contains("greeting") == true)
        #expect(elapsed >= .milliseconds(600) && elapsed < .seconds(5))
    }

    @Test func connectionRefused() async throws {
        let port = Int(try FreePort.loopback())
        let configuration = SMTPConfiguration(host: "127.0.0.1", port: port, security: .none, from: "tidemark@db1.example", timeout: .seconds(5))
        let error = await #expect(throws: TidemarkError.self) {
            _ = try await SMTPClient(configuration: configuration).send(Array("x\r\n".utf8), from: "tidemark@db1.example", to: ["ops@example.org"])
        }
        #expect(error?.code == .io)
        #expect(error?.message.contains("unable to connect") == true)
    }
}
