import TidemarkSystem
/// A tiny tolerant XML reader for S3's responses: elements, text and the five entities plus
/// numeric references. Attributes, namespaces, comments and processing instructions are skipped.
/// S3 answers are small, flat documents; this keeps FoundationXML (and libxml2) out of the binary.
struct XMLElement: Sendable {
    var name: String
    var text: String = ""
    var children: [XMLElement] = []

    func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }
    func all(_ name: String) -> [XMLElement] { children.filter { $0.name == name } }
    /// The text of the first child called `name`.
    subscript(_ name: String) -> String? { child(name)?.text }

    /// Parses `bytes`; nil when they are not a well-formed enough document.
    static func parse(_ bytes: [UInt8]) -> XMLElement? {
        var stack: [XMLElement] = [XMLElement(name: "#document")]
        var i = 0
        let n = bytes.count
        var text: [UInt8] = []
        while i < n {
            let b = bytes[i]
            if b != UInt8(ascii: "<") {
                text.append(b)
                i += 1
                continue
            }
            // Flush text into the current element.
            if !text.isEmpty {
                stack[stack.count - 1].text += decodeEntities(text)
                text.removeAll(keepingCapacity: true)
            }
            guard i + 1 < n else { return nil }
            let next = bytes[i + 1]
            if next == UInt8(ascii: "?") || next == UInt8(ascii: "!") {
                // Declaration, comment, CDATA or DOCTYPE.
                if bytes[i...].starts(with: Array("<![CDATA[".utf8)) {
                    guard let end = find(bytes, Array("]]>".utf8), from: i + 9) else { return nil }
                    stack[stack.count - 1].text += String(decoding: bytes[(i + 9)..<end], as: UTF8.self)
                    i = end + 3
                } else if bytes[i...].starts(with: Array("<!--".utf8)) {
                    guard let end = find(bytes, Array("-->".utf8), from: i + 4) else { return nil }
                    i = end + 3
                } else {
                    guard let end = find(bytes, [UInt8(ascii: ">")], from: i) else { return nil }
                    i = end + 1
                }
                continue
            }
            guard let close = find(bytes, [UInt8(ascii: ">")], from: i) else { return nil }
            var inner = Array(bytes[(i + 1)..<close])
            i = close + 1
            if inner.first == UInt8(ascii: "/") {
                let name = localName(inner.dropFirst())
                guard stack.count > 1, stack[stack.count - 1].name == name else { return nil }
                let done = stack.removeLast()
                stack[stack.count - 1].children.append(done)
                continue
            }
            let selfClosing = inner.last == UInt8(ascii: "/")
            if selfClosing { inner.removeLast() }
            let element = XMLElement(name: localName(inner[...]))
            if selfClosing {
                stack[stack.count - 1].children.append(element)
            } else {
                stack.append(element)
            }
        }
        guard stack.count == 1, let root = stack[0].children.first else { return nil }
        return root
    }

    private static func localName(_ tag: ArraySlice<UInt8>) -> String {
        let nameEnd = tag.firstIndex { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D } ?? tag.endIndex
        var name = tag[tag.startIndex..<nameEnd]
        if let colon = name.lastIndex(of: UInt8(ascii: ":")) { name = name[(colon + 1)...] }
        return String(decoding: name, as: UTF8.self)
    }

    private static func find(_ haystack: [UInt8], _ needle: [UInt8], from: Int) -> Int? {
        guard needle.count > 0, haystack.count >= needle.count else { return nil }
        var i = from
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0] && haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    static func decodeEntities(_ raw: [UInt8]) -> String {
        guard raw.contains(UInt8(ascii: "&")) else { return String(decoding: raw, as: UTF8.self) }
        let s = String(decoding: raw, as: UTF8.self)
        var out = ""
        var rest = Substring(s)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else { break }
            let entity = rest[rest.index(after: amp)..<semi]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                var scalar: UInt32?
                if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                    scalar = UInt32(entity.dropFirst(2), radix: 16)
                } else if entity.hasPrefix("#") {
                    scalar = UInt32(entity.dropFirst())
                }
                if let scalar, let u = Unicode.Scalar(scalar) { out.unicodeScalars.append(u) } else { out += rest[amp...semi] }
            }
            rest = rest[rest.index(after: semi)...]
        }
        out += rest
        return out
    }

    /// `s` with `& < > " '` escaped, for request bodies.
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }
}
