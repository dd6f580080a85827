import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCore
import TidemarkS3
import TidemarkCodec
import TidemarkStorage
import TidemarkNotify
/// The shape of the config file, checked before `JSONDecoder` sees it: JSON syntax (a
/// problem is named by line and column), every key known at its level (an unknown one is named,
/// with the closest known key), and objects and arrays only where the file takes them.
///
/// `JSONDecoder` ignores keys it does not know — a misspelt `"compresion"` would be dropped
/// without a word — and gives up at a fixed depth with a message that reads like a syntax
/// error. The check walks the text without recursion, so no nesting is too deep for it; a
/// value nested deeper than the file's own few levels is an unknown key or a wrong type, and
/// reported as that.
package indirect enum ConfigShape: Sendable {
    /// An object with these keys.
    case object([String: ConfigShape])
    /// An array of values of one shape.
    case array(ConfigShape)
    /// A string, number, boolean or null (its exact type is the decoder's to check).
    case scalar

    package struct Problem: Error, Sendable {
        package enum Kind: Sendable { case syntax, unknownKey, wrongType, duplicateKey }
        package var kind: Kind
        package var message: String
        package var line: Int
        package var column: Int
        /// For an unknown key: the closest known one, if any is close.
        package var suggestion: String?
        package var known: [String] = []
    }

    /// Checks `bytes` against this shape; throws the first problem found.
    package func check(_ bytes: [UInt8]) throws(Problem) {
        var scanner = ShapeScanner(bytes: bytes)
        try scanner.run(root: self)
    }

    package var kindName: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .scalar: return "a single value (string, number or boolean)"
        }
    }
}

private struct ShapeScanner {
    package let b: [UInt8]
    package var i = 0

    package init(bytes: [UInt8]) {
        b = bytes
        if b.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
    }

    package enum State { case first, next, afterValue }
    package struct Frame {
        package var isObject: Bool
        package var fields: [String: ConfigShape]
        package var element: ConfigShape
        package var path: String
        package var state: State = .first
        package var seen: Set<String> = []
        package var count = 0
    }

    package mutating func run(root: ConfigShape) throws(ConfigShape.Problem) {
        var stack: [Frame] = []
        var pending: (ConfigShape, String)? = (root, "")
        while true {
            skipSpace()
            if let (shape, path) = pending {
                pending = nil
                guard i < b.count else { throw syntax("the file ends where a value was expected") }
                let c = b[i]
                if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                    let isObject = c == UInt8(ascii: "{")
                    var fields: [String: ConfigShape] = [:]
                    var element = ConfigShape.scalar
                    switch (shape, isObject) {
                    case (.object(let f), true): fields = f
                    case (.array(let e), false): element = e
                    default:
                        throw problem(.wrongType, (path.isEmpty ? "the file" : "'\(path)'") + " must be \(shape.kindName), not \(isObject ? "an object" : "an array")")
                    }
                    i += 1
                    stack.append(Frame(isObject: isObject, fields: fields, element: element, path: path))
                } else {
                    if case .scalar = shape {} else {
                        throw problem(.wrongType, (path.isEmpty ? "the file" : "'\(path)'") + " must be \(shape.kindName)")
                    }
                    try scalar()
                }
                continue
            }
            guard var top = stack.popLast() else {
                guard i >= b.count else { throw syntax("unexpected text after the end of the JSON value") }
                return
            }
            guard i < b.count else { throw syntax("the file ends inside " + (top.isObject ? "an object (missing '}')" : "an array (missing ']')")) }
            let c = b[i]
            let close = UInt8(ascii: top.isObject ? "}" : "]")
            switch top.state {
            case .first where c == close, .afterValue where c == close:
                i += 1
                continue
            case .afterValue:
                guard c == UInt8(ascii: ",") else { throw syntax("expected ',' or '\(Character(Unicode.Scalar(close)))'") }
                i += 1
                top.state = .next
                stack.append(top)
                continue
            case .first, .next:
                break
            }
            if top.isObject {
                let keyStart = i
                guard c == UInt8(ascii: "\"") else { throw syntax("expected a key in double quotes") }
                let key = try string()
                let full = top.path.isEmpty ? key : top.path + "." + key
                guard let shape = top.fields[key] else {
                    i = keyStart
                    let known = top.fields.keys.sorted()
                    var p = problem(.unknownKey, "unknown key '\(full)'")
                    p.suggestion = nearestName(to: key, in: known)
                    p.known = known
                    throw p
                }
                guard top.seen.insert(key).inserted else {
                    i = keyStart
                    throw problem(.duplicateKey, "key '\(full)' appears twice")
                }
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw syntax("expected ':' after the key '\(key)'") }
                i += 1
                pending = (shape, full)
            } else {
                pending = (top.element, "\(top.path)[\(top.count)]")
                top.count += 1
            }
            top.state = .afterValue
            stack.append(top)
        }
    }

    package mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
    }

    package mutating func scalar() throws(ConfigShape.Problem) {
        let c = b[i]
        if c == UInt8(ascii: "\"") {
            _ = try string()
        } else if c == UInt8(ascii: "-") || isDigit(c) {
            try number()
        } else {
            for word in ["true", "false", "null"] where b[i...].starts(with: word.utf8) {
                i += word.utf8.count
                return
            }
            throw syntax("unexpected character '\(printable(c))'")
        }
    }

    /// A string at `i` (the opening quote), decoded.
    package mutating func string() throws(ConfigShape.Problem) -> String {
        i += 1
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        func flush() {
            scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
            raw.removeAll()
        }
        while i < b.count {
            let c = b[i]
            switch c {
            case UInt8(ascii: "\""):
                i += 1
                flush()
                return String(scalars)
            case UInt8(ascii: "\\"):
                guard i + 1 < b.count else { throw syntax("the file ends inside a string") }
                let e = b[i + 1]
                let simple: [UInt8: UInt8] = [0x22: 0x22, 0x5C: 0x5C, 0x2F: 0x2F, 0x62: 0x08, 0x66: 0x0C, 0x6E: 0x0A, 0x72: 0x0D, 0x74: 0x09]
                if let s = simple[e] {
                    raw.append(s)
                    i += 2
                } else if e == UInt8(ascii: "u") {
                    guard i + 6 <= b.count, let v = UInt32(String(decoding: b[(i + 2)..<(i + 6)], as: UTF8.self), radix: 16) else {
                        throw syntax("'\\u' must be followed by four hex digits")
                    }
                    flush()
                    scalars.append(Unicode.Scalar(v) ?? "\u{FFFD}")
                    i += 6
                } else {
                    throw syntax("invalid escape '\\\(printable(e))' in a string")
                }
            case 0..<0x20:
                throw syntax(c == 0x0A ? "a string is not closed before the end of the line" : "a control character inside a string must be escaped")
            default:
                raw.append(c)
                i += 1
            }
        }
        throw syntax("the file ends inside a string (missing '\"')")
    }

    package mutating func number() throws(ConfigShape.Problem) {
        let start = i
        if b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count, isDigit(b[i]) else { throw syntax("'-' must be followed by a digit") }
        if b[i] == UInt8(ascii: "0") { i += 1 } else { while i < b.count, isDigit(b[i]) { i += 1 } }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            guard i < b.count, isDigit(b[i]) else { throw syntax("a digit must follow the decimal point") }
            while i < b.count, isDigit(b[i]) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count, isDigit(b[i]) else { throw syntax("a digit must follow the exponent") }
            while i < b.count, isDigit(b[i]) { i += 1 }
        }
        if i < b.count, isDigit(b[i]) || b[i] == UInt8(ascii: ".") || isLetter(b[i]) {
            i = start
            throw syntax("not a valid number")
        }
    }

    package func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
    package func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") }
    package func printable(_ c: UInt8) -> String { c >= 0x20 && c < 0x7F ? String(Character(Unicode.Scalar(c))) : "\\x" + String(c, radix: 16) }

    package func syntax(_ message: String) -> ConfigShape.Problem { problem(.syntax, message) }

    /// A problem at `i`, with its 1-based line and column (in characters).
    package func problem(_ kind: ConfigShape.Problem.Kind, _ message: String) -> ConfigShape.Problem {
        var line = 1
        var column = 1
        for c in b[..<min(i, b.count)] {
            if c == 0x0A {
                line += 1
                column = 1
            } else if c & 0xC0 != 0x80 {
                column += 1
            }
        }
        return ConfigShape.Problem(kind: kind, message: message, line: line, column: column)
    }
}

/// The known key nearest to `key` by edit distance, when it is near enough to be a typo.
public func nearestName(to key: String, in known: [String]) -> String? {
    let lower = Array(key.lowercased().unicodeScalars)
    var best: (String, Int)?
    for k in known {
        let d = editDistance(lower, Array(k.lowercased().unicodeScalars))
        if best.map({ d < $0.1 }) ?? true { best = (k, d) }
    }
    guard let (name, distance) = best, distance <= max(2, min(lower.count, name.count) / 3) else { return nil }
    return name
}

package func editDistance<T: Equatable>(_ a: [T], _ b: [T]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = previous
    for (i, x) in a.enumerated() {
        current[0] = i + 1
        for (j, y) in b.enumerated() {
            current[j + 1] = Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

extension ConfigFile {
    /// The keys the file takes, at every level (`ConfigShape`): unknown keys are errors.
    package static var shape: ConfigShape {
        func scalars<K: CodingKey & CaseIterable>(_: K.Type) -> [String: ConfigShape] {
            Dictionary(uniqueKeysWithValues: K.allCases.map { ($0.stringValue, ConfigShape.scalar) })
        }
        var repository = scalars(RepositorySpec.CodingKeys.self)
        var s3 = scalars(S3Section.CodingKeys.self)
        s3[S3Section.CodingKeys.objectLock.stringValue] = .object(scalars(S3Section.ObjectLockSection.CodingKeys.self))
        repository[RepositorySpec.CodingKeys.s3.stringValue] = .object(s3)
        repository[RepositorySpec.CodingKeys.retention.stringValue] = .object(scalars(RetentionSection.CodingKeys.self))
        var top = scalars(CodingKeys.self)
        top[CodingKeys.retention.stringValue] = .object(scalars(RetentionSection.CodingKeys.self))
        top[CodingKeys.repositories.stringValue] = .array(.object(repository))
        top[CodingKeys.postgres.stringValue] = .object(scalars(PostgresSection.CodingKeys.self))
        var schedule = scalars(ScheduleSection.CodingKeys.self)
        schedule[ScheduleSection.CodingKeys.jobs.stringValue] = .array(.object(scalars(JobSection.CodingKeys.self)))
        top[CodingKeys.schedule.stringValue] = .object(schedule)
        top[CodingKeys.alerts.stringValue] = .object(scalars(AlertsSection.CodingKeys.self))
        top[CodingKeys.serve.stringValue] = .object(scalars(ServeSection.CodingKeys.self))
        top[CodingKeys.audit.stringValue] = .object(scalars(AuditSection.CodingKeys.self))
        top[CodingKeys.archiver.stringValue] = .object(scalars(ArchiverSection.CodingKeys.self))
        var api = scalars(APISection.CodingKeys.self)
        api[APISection.CodingKeys.tls.stringValue] = .object(scalars(APISection.TLSSection.CodingKeys.self))
        top[CodingKeys.api.stringValue] = .object(api)
        var files = scalars(FilesSection.CodingKeys.self)
        files[FilesSection.CodingKeys.paths.stringValue] = .array(.scalar)
        files[FilesSection.CodingKeys.exclude.stringValue] = .array(.scalar)
        top[CodingKeys.files.stringValue] = .object(files)
        var smtp = scalars(SMTPSection.CodingKeys.self)
        top[CodingKeys.smtp.stringValue] = .object(smtp)
        var email = scalars(NotificationsSection.EmailSection.CodingKeys.self)
        email[NotificationsSection.EmailSection.CodingKeys.recipients.stringValue] = .array(.scalar)
        top[CodingKeys.notifications.stringValue] = .object([
            NotificationsSection.CodingKeys.slack.stringValue: .object(scalars(NotificationsSection.SlackSection.CodingKeys.self)),
            NotificationsSection.CodingKeys.email.stringValue: .object(email),
            NotificationsSection.CodingKeys.webhook.stringValue: .object(scalars(NotificationsSection.WebhookSection.CodingKeys.self)),
            NotificationsSection.CodingKeys.heartbeat.stringValue: .object(scalars(NotificationsSection.HeartbeatSection.CodingKeys.self)),
        ])
        return .object(top)
    }
}

extension ConfigurationLoader {
    /// Syntax, unknown keys and misplaced objects or arrays, by line and column.
    package static func checkShape(_ bytes: [UInt8], path: String) throws {
        do {
            try ConfigFile.shape.check(bytes)
        } catch {
            let at = "line \(error.line), column \(error.column)"
            switch error.kind {
            case .syntax:
                throw TidemarkError(.configuration, "config file '\(path)' is not valid JSON: \(at): \(error.message)")
            case .unknownKey:
                var hints: [String] = []
                if let s = error.suggestion { hints.append("did you mean '\(s)'?") }
                hints.append("known keys here: " + error.known.joined(separator: ", ") + " (docs/configuration.md)")
                throw TidemarkError(.configuration, "config file '\(path)', \(at): \(error.message)", hints: hints)
            case .wrongType, .duplicateKey:
                throw TidemarkError(.configuration, "config file '\(path)', \(at): \(error.message)",
                                    hints: ["see docs/configuration.md for the file's keys and types"])
            }
        }
    }
}
