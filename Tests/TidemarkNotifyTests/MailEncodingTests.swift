import Foundation
import Testing
@testable import TidemarkNotify

@Suite("Notify: mail encoding", .tags(.small))
struct MailEncodingTests {
    @Test func dotStuffingAndLineEnds() {
        let input = Array(".first\nmiddle\r\n.\r\nlone\rend".utf8)
        let encoded = String(decoding: SMTPData.encode(input), as: UTF8.self)
        #expect(encoded == "..first\r\nmiddle\r\n..\r\nlone\r\nend\r\n.\r\n")
    }

    @Test func dotStuffingKeepsAFinalLineBreakOnce() {
        #expect(SMTPData.encode(Array("a\r\n".utf8)) == Array("a\r\n.\r\n".utf8))
    }

    @Test func quotedPrintable() {
        let qp = String(decoding: MailEncoding.quotedPrintable("a=b café\ntrailing \n.dot\n"), as: UTF8.self)
        #expect(qp == "a=3Db caf=C3=A9\r\ntrailing=20\r\n.dot\r\n")
    }

    @Test func quotedPrintableBreaksLongLinesOutsideEscapes() {
        let line = String(repeating: "é", count: 40)  // 80 bytes, 240 encoded characters
        let qp = String(decoding: MailEncoding.quotedPrintable(line), as: UTF8.self)
        let lines = qp.components(separatedBy: "\r\n").dropLast()
        #expect(lines.count == 4)
        for l in lines { #expect(l.count <= 76) }
        // Undo the soft breaks: the escapes are whole.
        let joined = qp.replacingOccurrences(of: "=\r\n", with: "").replacingOccurrences(of: "\r\n", with: "")
        #expect(joined == String(repeating: "=C3=A9", count: 40))
    }

    @Test func asciiSubjectStaysAsIs() {
        #expect(MailEncoding.headerText("backup failed", name: "Subject") == "backup failed")
    }

    @Test func nonASCIISubjectIsEncodedWordsSplitBetweenCharacters() throws {
        let subject = "sauvegarde échouée ✗ " + String(repeating: "ü", count: 30)
        let encoded = MailEncoding.headerText(subject, name: "Subject")
        let words = encoded.components(separatedBy: "\r\n ")
        #expect(words.count > 1)
        var decoded = ""
        for w in words {
            #expect(w.count <= 75)
            #expect(w.hasPrefix("=?utf-8?B?") && w.hasSuffix("?="))
            let b64 = String(w.dropFirst(10).dropLast(2))
            // Each word is whole UTF-8 on its own.
            let text = try #require(Data(base64Encoded: b64).flatMap { String(data: $0, encoding: .utf8) })
            decoded += text
        }
        #expect(decoded == subject)
    }

    @Test func rfc5322Date() {
        #expect(MailEncoding.rfc5322Date(Date(timeIntervalSince1970: 1_796_227_200 + 3661)) == "Wed, 02 Dec 2026 17:01:01 +0000")
        #expect(MailEncoding.rfc5322Date(Date(timeIntervalSince1970: 0)) == "Thu, 01 Jan 1970 00:00:00 +0000")
    }

    @Test func addressesThatCouldInjectAreRefused() {
        #expect(MailEncoding.isPlainAddress("ops@example.com"))
        for bad in ["ops@example.com>\r\nRCPT TO:<x@y", "a b@c", "no-at", "@x", "x@", "a,b@c", "<a@b>"] {
            #expect(!MailEncoding.isPlainAddress(bad), "\(bad)")
        }
    }

    @Test func messageHeaders() {
        let m = MailMessage(from: "tidemark@db1.example", to: ["a@x.org", "b@x.org"], subject: "t", body: "b",
                            date: Date(timeIntervalSince1970: 0), messageID: "id@db1.example")
        let text = String(decoding: m.rendered(), as: UTF8.self)
        #expect(text == """
            From: tidemark@db1.example\r
            To: a@x.org,\r
             b@x.org\r
            Subject: t\r
            Date: Thu, 01 Jan 1970 00:00:00 +0000\r
            Message-ID: <id@db1.example>\r
            MIME-Version: 1.0\r
            Content-Type: text/plain; charset=utf-8\r
            Content-Transfer-Encoding: quoted-printable\r
            Auto-Submitted: auto-generated\r
            \r
            b\r

            """)
    }
}
