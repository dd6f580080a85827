import Logging

/// The last line of defence for "keys and passwords never in logs": the engine should never
/// hand a secret to a logger (a `Secret` prints as `<redacted>` anyway), but a conninfo, a URL
/// or an error text may carry one. Before a line is written:
/// - a metadata value whose key names a secret (`password`, `passphrase`, `secret`, `token`,
///   `credential`, `authorization`, `encryptionKey`, `dataKey`, `privateKey`, `apiKey`, in any
///   case and with any separators: `postgres.password`, `AWS_SECRET_ACCESS_KEY`) is replaced;
/// - in the message, every string value and the error text, the value of such a name given as
///   `name=value` or `name: value` (libpq's `password=…`, `PGPASSWORD=…`, quoted or not) and the
///   password of a URL (`postgresql://user:…@host`) are replaced.
/// Over-redaction is the accepted price: `storage.key` or `wal.segment` stay as they are.
enum LogRedaction {
    static let mask = "<redacted>"

    static func redact(_ record: LogRecord) -> LogRecord {
        var record = record
        record.message = scrub(record.message)
        record.metadata = redact(record.metadata)
        record.error = record.error.map(scrub)
        return record
    }

    static func redact(_ metadata: Logger.Metadata) -> Logger.Metadata {
        var out: Logger.Metadata = [:]
        for (key, value) in metadata {
            out[key] = isSecretName(key) ? .string(mask) : redact(value)
        }
        return out
    }

    static func redact(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let s): return .string(scrub(s))
        case .stringConvertible(let c): return .string(scrub(c.description))
        case .dictionary(let d): return .dictionary(redact(d))
        case .array(let a): return .array(a.map(redact))
        }
    }

    private static let secretWords = [
        "password", "passwd", "passphrase", "secret", "token", "credential", "authorization",
        "encryptionkey", "datakey", "privatekey", "apikey",
    ]

    /// Whether a key or variable name names a secret, ignoring case and separators.
    static func isSecretName(_ name: String) -> Bool {
        let folded = String(name.lowercased().unicodeScalars.filter { $0.properties.isAlphabetic || ("0"..."9").contains($0) })
        return secretWords.contains { folded.contains($0) }
    }

    /// `s` with the values of secret names and URL passwords replaced by the mask.
    static func scrub(_ s: String) -> String {
        guard s.contains(where: { $0 == "=" || $0 == ":" }) else { return s }
        return scrubURLPasswords(scrubAssignments(s))
    }

    private static func isNameCharacter(_ c: Character) -> Bool {
        c.isLetter || c.isNumber || c == "_" || c == "-" || c == "."
    }

    /// `name=value`, `name = 'va lue'`, `"name": "value"`, `name: value` with a secret name.
    private static func scrubAssignments(_ s: String) -> String {
        let chars = Array(s)
        var out = ""
        var i = 0
        while i < chars.count {
            guard isNameCharacter(chars[i]), i == 0 || !isNameCharacter(chars[i - 1]) else {
                out.append(chars[i])
                i += 1
                continue
            }
            var end = i
            while end < chars.count, isNameCharacter(chars[end]) { end += 1 }
            let name = String(chars[i..<end])
            out += name
            i = end
            guard isSecretName(name) else { continue }
            var j = i
            if j < chars.count, chars[j] == "\"" || chars[j] == "'" { j += 1 }
            while j < chars.count, chars[j] == " " { j += 1 }
            guard j < chars.count, chars[j] == "=" || chars[j] == ":" else { continue }
            j += 1
            while j < chars.count, chars[j] == " " { j += 1 }
            // Keep everything up to the value, then skip the value itself.
            out += String(chars[i..<j])
            if j < chars.count, chars[j] == "'" || chars[j] == "\"" {
                let quote = chars[j]
                var k = j + 1
                while k < chars.count, chars[k] != quote {
                    k += chars[k] == "\\" ? 2 : 1
                }
                out += String(quote) + mask + String(quote)
                i = min(k + 1, chars.count)
            } else {
                var k = j
                while k < chars.count, !chars[k].isWhitespace, chars[k] != ",", chars[k] != ";", chars[k] != "}" { k += 1 }
                out += mask
                i = k
            }
        }
        return out
    }

    /// `scheme://user:password@host` → `scheme://user:<redacted>@host`.
    private static func scrubURLPasswords(_ s: String) -> String {
        guard s.contains("://") else { return s }
        let chars = Array(s)
        var out = ""
        var i = 0
        while i < chars.count {
            guard i + 2 < chars.count, chars[i] == ":", chars[i + 1] == "/", chars[i + 2] == "/" else {
                out.append(chars[i])
                i += 1
                continue
            }
            out += "://"
            i += 3
            var end = i
            while end < chars.count, !chars[end].isWhitespace, !"/?#\"'".contains(chars[end]) { end += 1 }
            let authority = chars[i..<end]
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                out += String(chars[i...colon]) + mask + String(chars[at..<end])
            } else {
                out += String(authority)
            }
            i = end
        }
        return out
    }
}
