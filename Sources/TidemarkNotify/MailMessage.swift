import Foundation

/// A plain-text mail as RFC 5322 bytes: `From`, `To`, `Subject` (RFC 2047 encoded-words when it
/// is not ASCII), `Date`, `Message-ID`, `MIME-Version`, `Content-Type: text/plain;
/// charset=utf-8` and a quoted-printable body. Lines end in CRLF. Dot-stuffing is the SMTP
/// client's job (`SMTPData.encode`), not the message's.
public struct MailMessage: Sendable, Equatable {
    public var from: String
    public var to: [String]
    public var subject: String
    public var body: String
    public var date: Date
    /// Without the angle brackets: `<uuid>@<domain of from>` by default.
    public var messageID: String

    public init(from: String, to: [String], subject: String, body: String, date: Date, messageID: String? = nil) {
        self.from = from
        self.to = to
        self.subject = subject
        self.body = body
        self.date = date
        let domain = from.split(separator: "@").last.map(String.init) ?? "localhost"
        self.messageID = messageID ?? "\(UUID().uuidString.lowercased())@\(domain)"
    }

    public func rendered() -> [UInt8] {
        var head = ""
        head += "From: \(from)\r\n"
        head += "To: \(to.joined(separator: ",\r\n "))\r\n"
        head += "Subject: \(MailEncoding.headerText(subject.split(whereSeparator: \.isNewline).joined(separator: " "), name: "Subject"))\r\n"
        head += "Date: \(MailEncoding.rfc5322Date(date))\r\n"
        head += "Message-ID: <\(messageID)>\r\n"
        head += "MIME-Version: 1.0\r\n"
        head += "Content-Type: text/plain; charset=utf-8\r\n"
        head += "Content-Transfer-Encoding: quoted-printable\r\n"
        head += "Auto-Submitted: auto-generated\r\n"
        head += "\r\n"
        return Array(head.utf8) + MailEncoding.quotedPrintable(body)
    }
}

/// The encodings a mail needs, as pure functions.
public enum MailEncoding {
    /// `text` as it may stand in a header: unchanged when it is printable ASCII, else RFC 2047
    /// `=?utf-8?B?...?=` encoded-words of at most 75 characters, split between characters
    /// (never inside a UTF-8 sequence) and folded onto continuation lines.
    public static func headerText(_ text: String, name: String) -> String {
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) && text.utf8.count + name.count + 2 <= 78 { return text }
        // 75 - "=?utf-8?B?" - "?=" = 63 base64 characters: 45 bytes of text (a multiple of 3).
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in text {
            let bytes = Array(String(character).utf8)
            if chunk.count + bytes.count > 45, !chunk.isEmpty {
                words.append(encodedWord(chunk))
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append(encodedWord(chunk)) }
        return words.joined(separator: "\r\n ")
    }

    private static func encodedWord(_ bytes: [UInt8]) -> String {
        "=?utf-8?B?\(Data(bytes).base64EncodedString())?="
    }

    /// RFC 2045 quoted-printable of `text` with CRLF line ends: every line break of the text
    /// (LF, CRLF or a lone CR) becomes CRLF; `=`, control characters and non-ASCII bytes are
    /// `=XX`; a space or tab at a line's end is encoded; lines longer than 76 characters are
    /// broken with a soft `=`, never inside an `=XX`.
    public static func quotedPrintable(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        let hex = Array("0123456789ABCDEF".utf8)
        for line in lines(of: Array(text.utf8)) {
            var encoded: [[UInt8]] = []
            for (i, byte) in line.enumerated() {
                let last = i == line.count - 1
                let literal = (byte >= 33 && byte <= 126 && byte != 61) || ((byte == 32 || byte == 9) && !last)
                encoded.append(literal ? [byte] : [61, hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            }
            var width = 0
            for unit in encoded {
                if width + unit.count > 75 {
                    out += [61, 13, 10]
                    width = 0
                }
                out += unit
                width += unit.count
            }
            out += [13, 10]
        }
        return out
    }

    /// The lines of `bytes` split at LF, CRLF or a lone CR; a final line break ends the last
    /// line rather than starting an empty one.
    static func lines(of bytes: [UInt8]) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var current: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == 13 || b == 10 {
                result.append(current)
                current = []
                if b == 13, i + 1 < bytes.count, bytes[i + 1] == 10 { i += 1 }
            } else {
                current.append(b)
            }
            i += 1
        }
        if !current.isEmpty || result.isEmpty { result.append(current) }
        return result
    }

    /// `Wed, 02 Dec 2026 16:46:37 +0000`: RFC 5322's date-time in UTC, English names whatever
    /// the locale.
    public static func rfc5322Date(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int?) -> String { let v = v ?? 0; return v < 10 ? "0\(v)" : "\(v)" }
        let weekday = days[((c.weekday ?? 1) - 1 + 7) % 7]
        let month = months[((c.month ?? 1) - 1 + 12) % 12]
        return "\(weekday), \(two(c.day)) \(month) \(c.year ?? 1970) \(two(c.hour)):\(two(c.minute)):\(two(c.second)) +0000"
    }

    /// A mailbox the SMTP envelope and the headers can carry: `local@domain`, printable ASCII,
    /// no spaces, brackets, commas or quotes (so an address cannot inject a header or a command).
    public static func isPlainAddress(_ address: String) -> Bool {
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, address.utf8.count <= 254 else { return false }
        let forbidden: Set<UInt8> = Set(Array("<>()[],;:\\\" ".utf8))
        return address.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && !forbidden.contains($0) }
    }
}

/// The DATA section as SMTP sends it (RFC 5321 §4.5.2): every line break made CRLF, a `.` put
/// before each line that starts with one, the final `CRLF.CRLF`.
public enum SMTPData {
    public static func encode(_ message: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.count + message.count / 50 + 5)
        for line in MailEncoding.lines(of: message) {
            if line.first == 46 { out.append(46) }
            out += line
            out += [13, 10]
        }
        out += [46, 13, 10]
        return out
    }
}
