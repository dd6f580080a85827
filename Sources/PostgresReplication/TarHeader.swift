import TidemarkSystem
/// One decoded 512-byte tar header block (ustar, GNU or pax flavour), before long names and
/// pax records are applied. Pure: no I/O.
struct TarHeader: Equatable {
    enum Kind: Equatable {
        case file, directory, symlink
        /// GNU `L`: the data is the next entry's path.
        case gnuLongName
        /// GNU `K`: the data is the next entry's link target.
        case gnuLongLink
        /// pax `x`: the data holds `path`, `linkpath`, `size` records for the next entry.
        case paxExtended
        /// pax `g`: global records; read and ignored.
        case paxGlobal
    }

    var kind: Kind
    /// Raw name bytes: `prefix/name` for POSIX ustar, `name` otherwise; NUL padding removed.
    var name: [UInt8]
    var linkName: [UInt8]
    var size: Int64
    var mode: UInt32
    var modified: Int64

    static let blockSize = 512

    /// True when every byte of the block is zero (end-of-archive marker).
    static func isZeroBlock(_ block: UnsafeRawBufferPointer) -> Bool {
        block.allSatisfy { $0 == 0 }
    }

    /// Decodes a header block; throws `invalidArchive` for a bad checksum, a missing ustar magic,
    /// a malformed number or an entry type PostgreSQL does not produce (hard links, devices, FIFOs).
    init(block: UnsafeRawBufferPointer) throws {
        precondition(block.count == Self.blockSize)
        let recorded = try Self.number(block, 148, 8, field: "checksum")
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for (index, byte) in block.enumerated() {
            let value = (148..<156).contains(index) ? UInt8(ascii: " ") : byte
            unsigned += Int64(value)
            signed += Int64(Int8(bitPattern: value))
        }
        guard recorded == unsigned || recorded == signed else {
            throw ReplicationError(
                .invalidArchive, "unable to read tar header: checksum \(recorded) does not match computed \(unsigned)")
        }
        let magic = Array(block[257..<265])
        let isPOSIX = magic == Array("ustar\u{0}00".utf8)
        let isGNU = magic == Array("ustar  \u{0}".utf8)
        guard isPOSIX || isGNU else {
            throw ReplicationError(.invalidArchive, "unable to read tar header: no ustar magic")
        }

        switch block[156] {
        case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): kind = .file
        case UInt8(ascii: "5"): kind = .directory
        case UInt8(ascii: "2"): kind = .symlink
        case UInt8(ascii: "L"): kind = .gnuLongName
        case UInt8(ascii: "K"): kind = .gnuLongLink
        case UInt8(ascii: "x"): kind = .paxExtended
        case UInt8(ascii: "g"): kind = .paxGlobal
        case let other:
            throw ReplicationError(
                .invalidArchive, "unable to read tar entry: unsupported type flag \(Self.printable(other))")
        }

        var name = Self.string(block, 0, 100)
        if isPOSIX {
            let prefix = Self.string(block, 345, 155)
            if !prefix.isEmpty { name = prefix + [UInt8(ascii: "/")] + name }
        }
        self.name = name
        linkName = Self.string(block, 157, 100)
        size = try Self.number(block, 124, 12, field: "size")
        guard size >= 0 else { throw ReplicationError(.invalidArchive, "unable to read tar entry: negative size") }
        mode = UInt32(truncatingIfNeeded: try Self.number(block, 100, 8, field: "mode") & 0o7777)
        modified = try Self.number(block, 136, 12, field: "mtime")
    }

    /// The bytes of a NUL-padded text field, up to the first NUL.
    static func string(_ block: UnsafeRawBufferPointer, _ offset: Int, _ length: Int) -> [UInt8] {
        let field = block[offset..<(offset + length)]
        return Array(field.prefix { $0 != 0 })
    }

    /// A numeric field: octal ASCII (leading spaces, ended by NUL or space), or GNU base-256 when
    /// the first byte has its high bit set (sizes of 8 GiB and more). Negative base-256 values
    /// are rejected: no PostgreSQL archive carries one.
    static func number(_ block: UnsafeRawBufferPointer, _ offset: Int, _ length: Int, field: String) throws -> Int64 {
        let bytes = block[offset..<(offset + length)]
        guard let first = bytes.first else { return 0 }
        if first & 0x80 != 0 {
            guard first & 0x40 == 0 else {
                throw ReplicationError(.invalidArchive, "unable to read tar header: negative base-256 \(field)")
            }
            var value = Int64(first & 0x3f)
            for byte in bytes.dropFirst() {
                guard value <= Int64.max >> 8 else {
                    throw ReplicationError(.invalidArchive, "unable to read tar header: \(field) does not fit 63 bits")
                }
                value = value << 8 | Int64(byte)
            }
            return value
        }
        var value: Int64 = 0
        var index = bytes.startIndex
        while index < bytes.endIndex, bytes[index] == UInt8(ascii: " ") { index += 1 }
        while index < bytes.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(bytes[index]) {
            guard value <= Int64.max >> 3 else {
                throw ReplicationError(.invalidArchive, "unable to read tar header: \(field) does not fit 63 bits")
            }
            value = value << 3 | Int64(bytes[index] - UInt8(ascii: "0"))
            index += 1
        }
        guard bytes[index...].allSatisfy({ $0 == 0 || $0 == UInt8(ascii: " ") }) else {
            throw ReplicationError(.invalidArchive, "unable to read tar header: \(field) is not an octal number")
        }
        return value
    }

    private static func printable(_ byte: UInt8) -> String {
        (0x21...0x7e).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "0x" + String(byte, radix: 16)
    }
}
