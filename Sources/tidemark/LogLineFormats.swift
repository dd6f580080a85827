import Logging

/// `--log-format text`: `LEVEL label: message key=value ...`, metadata sorted by key, one line
/// per event whatever the message holds (the server log is read line by line).
enum TextLogFormat {
    static func line(_ record: LogRecord) -> String {
        var text = record.level.rawValue.uppercased() + " " + record.label + ": " + oneLine(record.message)
        for key in record.metadata.keys.sorted() {
            guard let value = record.metadata[key] else { continue }
            text += " " + key + "=" + render(value)
        }
        if let error = record.error { text += " error=" + quotedIfNeeded(error) }
        return text + "\n"
    }

    static func render(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let s): return quotedIfNeeded(s)
        case .stringConvertible(let c): return quotedIfNeeded(c.description)
        case .dictionary, .array: return JSONLogFormat.value(value)
        }
    }

    /// A bare word when it reads unambiguously as one, else a JSON string.
    static func quotedIfNeeded(_ s: String) -> String {
        let plain = !s.isEmpty && s.unicodeScalars.allSatisfy { c in
            c.value > 0x20 && c.value != 0x7F && c != "\"" && c != "=" && c != "\\"
        }
        return plain ? s : JSONLogFormat.string(s)
    }

    private static func oneLine(_ s: String) -> String {
        guard s.contains(where: { $0.isNewline }) else { return s }
        return s.split(omittingEmptySubsequences: false, whereSeparator: { $0.isNewline }).joined(separator: "\\n")
    }
}

/// `--log-format json`: one object per line,
/// `{"time":…,"level":…,"label":…,"message":…,"metadata":{…}}` (plus `"error"` when the event
/// carries one). Metadata keys are sorted; nested metadata stays nested.
enum JSONLogFormat {
    static func line(_ record: LogRecord, time: String) -> String {
        var text = "{\"time\":" + string(time) + ",\"level\":" + string(record.level.rawValue)
            + ",\"label\":" + string(record.label) + ",\"message\":" + string(record.message)
            + ",\"metadata\":" + object(record.metadata)
        if let error = record.error { text += ",\"error\":" + string(error) }
        return text + "}\n"
    }

    static func value(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let s): return string(s)
        case .stringConvertible(let c): return string(c.description)
        case .dictionary(let d): return object(d)
        case .array(let a): return "[" + a.map(Self.value).joined(separator: ",") + "]"
        }
    }

    static func object(_ metadata: Logger.Metadata) -> String {
        "{" + metadata.keys.sorted().compactMap { key in metadata[key].map { string(key) + ":" + value($0) } }
            .joined(separator: ",") + "}"
    }

    /// A JSON string literal (RFC 8259): quote, backslash and control characters escaped.
    static func string(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where c.value < 0x20 || c.value == 0x7F:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }
}
