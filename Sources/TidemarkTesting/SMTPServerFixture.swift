import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real SMTP server on loopback for tests: `aiosmtpd` (PyPI, installed by scripts/test.sh)
/// run by a small script that writes each message it accepts to `<directory>/N.eml` (the
/// bytes as received, after SMTP's dot-unstuffing) and `<directory>/N.json` (the envelope, and
/// the message as Python's `email` package parses it: an independent reader of our encoding).
/// Every AUTH attempt is appended to `<directory>/auth.log` (`MECHANISM user ok|bad`).
public final class SMTPServerFixture: @unchecked Sendable {
    /// How the server behaves.
    public struct Options: Sendable {
        /// PEM certificate and key: STARTTLS offered (or, with `implicitTLS`, TLS from the start).
        public var certificate: (cert: String, key: String)?
        public var implicitTLS = false
        /// Refuse mail until STARTTLS.
        public var requireStartTLS = false
        /// Accept exactly this login (AUTH PLAIN and LOGIN).
        public var login: (user: String, password: String)?
        /// Offer AUTH before TLS too (aiosmtpd hides it by default).
        public var authWithoutTLS = false
        /// Offer AUTH LOGIN only (no PLAIN).
        public var loginMechanismOnly = false
        /// Recipients answered `550 5.1.1`.
        public var refusedRecipients: [String] = []
        public init() {}
    }

    /// A received message.
    public struct Received: Sendable {
        public var raw: [UInt8]
        public var mailFrom: String
        public var recipients: [String]
        /// Python's `email` package's view: decoded subject, decoded text body, each header as received.
        public var subject: String
        public var body: String
        public var headers: [String: String]
        public var rawText: String { String(decoding: raw, as: UTF8.self) }
    }

    public let port: UInt16
    public let directory: ScratchDirectory
    private var process: ChildProcess?

    private init(port: UInt16, directory: ScratchDirectory, process: ChildProcess) {
        self.port = port
        self.directory = directory
        self.process = process
    }

    deinit { stop() }

    public func stop() {
        if let process {
            kill(-process.pid, SIGKILL)
            process.send(SIGKILL)
            _ = try? process.waitBlocking()
        }
        process = nil
    }

    /// Starts the server and waits until it accepts connections.
    public static func start(_ options: Options = Options(), timeout: Duration = .seconds(30)) async throws -> SMTPServerFixture {
        let directory = try ScratchDirectory(prefix: "smtp", mode: 0o700)
        let script = directory.child("server.py")
        try Data(serverScript.utf8).write(to: URL(fileURLWithPath: script))
        var lastError: (any Error)?
        for _ in 0..<3 {
            let port = try FreePort.loopback()
            var args = [script, "--port", String(port), "--dir", directory.path]
            if let c = options.certificate { args += ["--cert", c.cert, "--key", c.key] }
            if options.implicitTLS { args.append("--implicit-tls") }
            if options.requireStartTLS { args.append("--require-starttls") }
            if let login = options.login { args += ["--login", "\(login.user):\(login.password)"] }
            if options.authWithoutTLS { args.append("--auth-without-tls") }
            if options.loginMechanismOnly { args.append("--login-only") }
            for r in options.refusedRecipients { args += ["--refuse", r] }
            let process = try PythonServer.launch(args, name: "aiosmtpd")
            if await PythonServer.waitUntilListening(port: port, process: process, timeout: timeout) {
                return SMTPServerFixture(port: port, directory: directory, process: process)
            }
            lastError = PythonServer.startFailure(process, what: "aiosmtpd", port: port, hint: "pip install aiosmtpd==1.4.6 (scripts/test.sh does this)")
        }
        throw lastError ?? TestingError(.processFailed, "aiosmtpd did not start")
    }

    /// The messages received so far, oldest first.
    public func received() throws -> [Received] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        let numbers = names.compactMap { $0.hasSuffix(".json") ? Int($0.dropLast(5)) : nil }.sorted()
        return try numbers.map { n in
            let raw = try Data(contentsOf: URL(fileURLWithPath: directory.child("\(n).eml")))
            let json = try Data(contentsOf: URL(fileURLWithPath: directory.child("\(n).json")))
            guard let object = try JSONSerialization.jsonObject(with: json) as? [String: Any] else {
                throw TestingError(.unexpectedOutput, "aiosmtpd fixture wrote a JSON file that is not an object")
            }
            return Received(
                raw: Array(raw), mailFrom: object["mail_from"] as? String ?? "", recipients: object["rcpt_tos"] as? [String] ?? [],
                subject: object["subject"] as? String ?? "", body: object["body"] as? String ?? "",
                headers: object["headers"] as? [String: String] ?? [:])
        }
    }

    /// The AUTH attempts the server saw (`PLAIN user ok`).
    public func authAttempts() -> [String] {
        guard let text = try? String(contentsOfFile: directory.child("auth.log"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map(String.init)
    }

    /// A CA and a server certificate it signed for `127.0.0.1` and `localhost`, made with the
    /// openssl command line in `directory`: (caFile, certFile, keyFile).
    public static func makeCertificates(in directory: String, name: String = "ca") throws -> (ca: String, cert: String, key: String) {
        let ca = directory + "/\(name).pem", caKey = directory + "/\(name).key"
        let cert = directory + "/\(name)-server.pem", key = directory + "/\(name)-server.key", csr = directory + "/\(name)-server.csr"
        let ext = directory + "/\(name)-ext.cnf"
        try Data("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n".utf8)
            .write(to: URL(fileURLWithPath: ext))
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try ChildProcess.runBlocking(Command("/usr/bin/openssl", ["req", "-x509"] + ec + [
            "-keyout", caKey, "-out", ca, "-days", "2", "-subj", "/CN=tidemark test CA \(name)",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])).checked()
        try ChildProcess.runBlocking(Command("/usr/bin/openssl", ["req"] + ec + ["-keyout", key, "-out", csr, "-subj", "/CN=localhost"])).checked()
        try ChildProcess.runBlocking(Command("/usr/bin/openssl", [
            "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext,
        ])).checked()
        return (ca, cert, key)
    }

    static let serverScript = #"""
import argparse, asyncio, email, email.policy, json, os, ssl, threading
from aiosmtpd.smtp import SMTP, AuthResult

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--dir", required=True)
p.add_argument("--cert"); p.add_argument("--key")
p.add_argument("--implicit-tls", action="store_true")
p.add_argument("--require-starttls", action="store_true")
p.add_argument("--login")
p.add_argument("--auth-without-tls", action="store_true")
p.add_argument("--login-only", action="store_true")
p.add_argument("--refuse", action="append", default=[])
a = p.parse_args()
lock = threading.Lock()
count = [0]

def write_atomic(path, data):
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.rename(path + ".tmp", path)

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in a.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        info = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                "subject": str(msg["Subject"]) if msg["Subject"] is not None else "",
                "body": body.get_content() if body is not None else "",
                "headers": {k: str(v) for k, v in msg.items()}}
        with lock:
            count[0] += 1
            n = count[0]
        write_atomic(os.path.join(a.dir, "%d.eml" % n), raw)
        write_atomic(os.path.join(a.dir, "%d.json" % n), json.dumps(info).encode())
        return "250 2.0.0 message accepted"

def authenticator(server, session, envelope, mechanism, auth_data):
    user = auth_data.login.decode(errors="replace") if auth_data.login else ""
    password = auth_data.password.decode(errors="replace") if auth_data.password else ""
    ok = a.login is not None and a.login == user + ":" + password
    with lock, open(os.path.join(a.dir, "auth.log"), "a") as f:
        f.write("%s %s %s\n" % (mechanism, user, "ok" if ok else "bad"))
    return AuthResult(success=ok, handled=False)

context = None
if a.cert:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(a.cert, a.key)

def factory():
    kw = dict(hostname="smtp.test", decode_data=False, ident="tidemark-test-smtpd")
    if context is not None and not a.implicit_tls:
        kw["tls_context"] = context
        kw["require_starttls"] = a.require_starttls
    if a.login is not None:
        kw["authenticator"] = authenticator
        # aiosmtpd does not see implicit TLS as TLS: it would hide AUTH.
        kw["auth_require_tls"] = not (a.auth_without_tls or a.implicit_tls)
        if a.login_only:
            kw["auth_exclude_mechanism"] = ["PLAIN"]
    return SMTP(Handler(), **kw)

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, host="127.0.0.1", port=a.port,
                                      ssl=context if a.implicit_tls else None)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""#
}
