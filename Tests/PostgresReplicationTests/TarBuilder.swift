import PostgresReplication

/// Writes tar archives byte by byte from the ustar layout, independently of `TarReader`, so the
/// tests do not trust the code they test.
struct TarBuilder {
    enum Format { case posix, gnu }

    var format: Format = .posix
    private(set) var bytes: [UInt8] = []

    /// A raw header block. `size` is written in octal, or base-256 when `base256Size`.
    mutating func header(
        name: String, type: Character, size: Int64 = 0, mode: UInt32 = 0o600, modified: Int64 = 1_700_000_000,
        link: String = "", prefix: String = "", base256Size: Bool = false, corruptChecksum: Bool = false,
        magic: [UInt8]? = nil
    ) {
        var block = [UInt8](repeating: 0, count: 512)
        put(&block, 0, Array(name.utf8), 100)
        put(&block, 100, octal(Int64(mode), 8), 8)
        put(&block, 108, octal(26, 8), 8)
        put(&block, 116, octal(26, 8), 8)
        if base256Size {
            var field = [UInt8](repeating: 0, count: 12)
            var value = UInt64(size)
            for index in stride(from: 11, through: 1, by: -1) {
                field[index] = UInt8(value & 0xff)
                value >>= 8
            }
            field[0] = 0x80
            put(&block, 124, field, 12)
        } else {
            put(&block, 124, octal(size, 12), 12)
        }
        put(&block, 136, octal(modified, 12), 12)
        block[156] = UInt8(ascii: type.unicodeScalars.first!)
        put(&block, 157, Array(link.utf8), 100)
        let defaultMagic = format == .posix ? Array("ustar\u{0}00".utf8) : Array("ustar  \u{0}".utf8)
        put(&block, 257, magic ?? defaultMagic, 8)
        put(&block, 265, Array("postgres".utf8), 32)
        put(&block, 297, Array("postgres".utf8), 32)
        if format == .posix { put(&block, 345, Array(prefix.utf8), 155) }
        for index in 148..<156 { block[index] = UInt8(ascii: " ") }
        var sum = block.reduce(0) { $0 + Int64($1) }
        if corruptChecksum { sum += 1 }
        put(&block, 148, octal(sum, 7), 7)
        bytes += block
    }

    mutating func file(_ name: String, _ content: [UInt8], mode: UInt32 = 0o600, prefix: String = "") {
        header(name: name, type: "0", size: Int64(content.count), mode: mode, prefix: prefix)
        data(content)
    }

    mutating func directory(_ name: String, mode: UInt32 = 0o700) {
        header(name: name, type: "5", mode: mode)
    }

    mutating func symlink(_ name: String, target: String) {
        header(name: name, type: "2", mode: 0o777, link: target)
    }

    /// A GNU `L` (or `K` for a link target) entry carrying `name` for the next header.
    mutating func gnuLong(_ name: String, type: Character = "L") {
        let content = Array(name.utf8) + [0]
        header(name: "././@LongLink", type: type, size: Int64(content.count))
        data(content)
    }

    /// A pax `x` header with `records`.
    mutating func pax(_ records: [(String, String)]) {
        var content: [UInt8] = []
        for (key, value) in records {
            let body = " \(key)=\(value)\n"
            var length = body.utf8.count + 1
            while String(length).count + body.utf8.count != length { length += 1 }
            content += Array((String(length) + body).utf8)
        }
        header(name: "PaxHeader", type: "x", size: Int64(content.count))
        data(content)
    }

    /// Content bytes plus zero padding to the next 512-byte boundary.
    mutating func data(_ content: [UInt8]) {
        bytes += content
        bytes += [UInt8](repeating: 0, count: (512 - content.count % 512) % 512)
    }

    mutating func end() {
        bytes += [UInt8](repeating: 0, count: 1024)
    }

    private func octal(_ value: Int64, _ width: Int) -> [UInt8] {
        let digits = String(value, radix: 8)
        return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8) + [0]
    }

    private func put(_ block: inout [UInt8], _ offset: Int, _ value: [UInt8], _ length: Int) {
        precondition(value.count <= length, "field too long")
        for (index, byte) in value.enumerated() { block[offset + index] = byte }
    }
}

/// Events with consecutive `fileData` pieces merged, so different chunkings compare equal.
func coalesced(_ events: [TarReader.Event]) -> [TarReader.Event] {
    var result: [TarReader.Event] = []
    for event in events {
        if case .fileData(let more) = event, case .fileData(let bytes)? = result.last {
            result[result.count - 1] = .fileData(bytes + more)
        } else {
            result.append(event)
        }
    }
    return result
}

/// Deterministic pseudo-random bytes.
func pattern(_ count: Int, seed: UInt8 = 1) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &* 7 &+ ($0 >> 8)) }
}
