import Foundation
import TidemarkCore

extension SMTPClient {
    /// The command/reply steps of one SMTP session over a connection.
    struct Session {
        let connection: SMTPConnection
        let client: SMTPClient
        var tls: Bool
        /// EHLO keywords (upper-cased) and their parameters: `["AUTH": "PLAIN LOGIN", "STARTTLS": ""]`.
        var capabilities: [String: String] = [:]

        init(connection: SMTPConnection, client: SMTPClient, tls: Bool) {
            self.connection = connection
            self.client = client
            self.tls = tls
        }

        /// Writes `line` + CRLF and returns the reply, whatever its code.
        func send(_ line: String, step: String) async throws -> SMTPReply {
            do {
                try await connection.write(Array((line + "\r\n").utf8))
                return try await connection.reply()
            } catch {
                throw client.failure(step, error)
            }
        }

        /// `send`, then the reply must have `code`.
        @discardableResult
        func command(_ line: String, expect code: Int, step: String) async throws -> SMTPReply {
            let reply = try await send(line, step: step)
            guard reply.code == code else { throw refused(step, reply) }
            return reply
        }

        /// A reply that must have `code` without a command (the greeting, the end of DATA).
        func expect(_ code: Int, step: String) async throws {
            let reply: SMTPReply
            do {
                reply = try await connection.reply()
            } catch {
                throw client.failure(step, error)
            }
            guard reply.code == code else { throw refused(step, reply) }
        }

        /// EHLO, or HELO when the server answers EHLO with 500/502 (no capabilities then).
        mutating func hello(afterTLS: Bool = false) async throws {
            let name = client.configuration.clientName
            let step = afterTLS ? "EHLO after STARTTLS" : "EHLO"
            let reply = try await send("EHLO \(name)", step: step)
            if reply.code == 250 {
                capabilities = [:]
                for line in reply.lines.dropFirst() {
                    let words = line.split(separator: " ", maxSplits: 1)
                    guard let keyword = words.first else { continue }
                    capabilities[keyword.uppercased()] = words.count > 1 ? String(words[1]).uppercased() : ""
                }
                return
            }
            guard reply.code == 500 || reply.code == 502, !afterTLS else { throw refused(step, reply) }
            try await command("HELO \(name)", expect: 250, step: "HELO")
            capabilities = [:]
        }

        /// AUTH PLAIN (preferred) or AUTH LOGIN, only over TLS unless `allowInsecureAuth`.
        func authenticate(username: String) async throws {
            let c = client.configuration
            guard tls || c.allowInsecureAuth else {
                throw TidemarkError(.configuration, "email: refusing to send the SMTP password to \(c.host):\(c.port) without TLS",
                                    hints: ["use STARTTLS (smtp.startTLS: true, port 587) or TLS (smtp.tls: true, port 465)",
                                            "only for a trusted local relay: smtp.allowInsecureAuth: true"])
            }
            guard let password = c.password else {
                throw TidemarkError(.configuration, "email: smtp.username is set but no password (smtp.passwordFile)",
                                    hints: ["put the password in a file of mode 0600 and name it in smtp.passwordFile"])
            }
            let mechanisms = Set((capabilities["AUTH"] ?? "").split(separator: " ").map(String.init))
            let secret = String(decoding: password.bytes, as: UTF8.self)
            if mechanisms.contains("PLAIN") {
                let token = Data([0] + Array(username.utf8) + [0] + password.bytes).base64EncodedString()
                let reply = try await send("AUTH PLAIN \(token)", step: "AUTH PLAIN")
                guard reply.code == 235 else { throw refused("AUTH PLAIN", scrubbed(reply, secret: secret, token: token)) }
            } else if mechanisms.contains("LOGIN") {
                try await command("AUTH LOGIN", expect: 334, step: "AUTH LOGIN")
                try await command(Data(username.utf8).base64EncodedString(), expect: 334, step: "AUTH LOGIN (user name)")
                let token = Data(password.bytes).base64EncodedString()
                let reply = try await send(token, step: "AUTH LOGIN (password)")
                guard reply.code == 235 else { throw refused("AUTH LOGIN", scrubbed(reply, secret: secret, token: token)) }
            } else {
                throw TidemarkError(.configuration,
                                    "email: the SMTP server \(c.host):\(c.port) offers no AUTH PLAIN or LOGIN (it offers: \(mechanisms.sorted().joined(separator: " ")))",
                                    hints: ["remove smtp.username if the server needs no login"])
            }
        }

        /// A reply text without the password in any form the client sent it.
        private func scrubbed(_ reply: SMTPReply, secret: String, token: String) -> SMTPReply {
            var reply = reply
            reply.lines = reply.lines.map { line in
                var line = line
                for s in [secret, token] where !s.isEmpty { line = line.replacingOccurrences(of: s, with: "<redacted>") }
                return line
            }
            return reply
        }

        /// The server said no at `step`.
        func refused(_ step: String, _ reply: SMTPReply) -> TidemarkError {
            let c = client.configuration
            let text = "email: the SMTP server \(c.host):\(c.port) refused \(step): \(reply)"
            if (400..<500).contains(reply.code) { return TidemarkError(.io, text) }
            if step.hasPrefix("AUTH") {
                return TidemarkError(.configuration, text, hints: ["check smtp.username and the password in smtp.passwordFile"])
            }
            if step == "MAIL FROM" {
                return TidemarkError(.configuration, text, hints: ["smtp.from must be an address this server may send from"])
            }
            return TidemarkError(.invalidInput, text)
        }
    }
}
