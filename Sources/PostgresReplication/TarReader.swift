import TidemarkSystem
/// A streaming tar parser: feed it the archive's bytes in pieces of any size and it reports
/// entries and file contents as events. Pure state machine, no I/O, no buffering of file data.
///
/// Contract:
/// - Reads ustar (POSIX and GNU flavours) as PostgreSQL's `tarCreateHeader` and `/bin/tar` write
///   them: octal or base-256 numbers, `prefix/name`, GNU long names (`L`, `K`), pax `path`,
///   `linkpath` and `size` records; regular files (`0`, NUL, `7`), directories, symlinks.
/// - Paths are normalised (the `./` PostgreSQL puts before `pg_wal/archive_status`, empty and `.`
///   components, a trailing `/` are dropped) and must be UTF-8; an absolute path or a `..`
///   component throws `unsafePath` before any event for that entry is emitted.
/// - Per file: `fileStarted`, then `fileData` pieces in order whose lengths add up to exactly the
///   size in the header (none for an empty file), then `fileEnded`.
/// - The archive ends at two zero blocks (`endOfArchive`); only zero bytes may follow (`/bin/tar`
///   pads to its record size). `finish()` throws when the end marker has not been seen.
/// - After a thrown error the reader is unusable.
public struct TarReader: Sendable {
    public enum Event: Equatable, Sendable {
        case directory(path: String, mode: UInt32)
        case symlink(path: String, target: String)
        case fileStarted(path: String, size: Int64, mode: UInt32, modified: Int64)
        case fileData([UInt8])
        case fileEnded
        case endOfArchive
    }

    private enum State: Equatable, Sendable {
        case header
        case secondZeroBlock
        case fileData(remaining: Int64, padding: Int)
        case extendedData(kind: TarHeader.Kind, remaining: Int64, padding: Int)
        case skip(remaining: Int64)
        case ended
    }

    /// Upper bound for a GNU long name or a pax header's data, so a corrupt size cannot make the
    /// reader buffer gigabytes.
    public static let maximumExtendedHeaderSize = 1 << 20

    private var state = State.header
    private var block = [UInt8](repeating: 0, count: TarHeader.blockSize)
    private var blockFill = 0
    private var extended: [UInt8] = []
    private var longName: [UInt8]?
    private var longLink: [UInt8]?
    private var paxPath: [UInt8]?
    private var paxLinkPath: [UInt8]?
    private var paxSize: Int64?

    public init() {}

    /// True once the two zero blocks that end the archive have been read.
    public var isAtEnd: Bool { state == .ended }

    /// True when nothing of a partial entry is buffered: the place where a PostgreSQL ≤ 14 archive,
    /// which lacks the two zero blocks, may legitimately stop.
    public var isBetweenEntries: Bool {
        state == .header && blockFill == 0 && longName == nil && longLink == nil && paxPath == nil
            && paxLinkPath == nil && paxSize == nil
    }

    /// Throws `invalidArchive` unless the end-of-archive marker has been read.
    public func finish() throws {
        guard isAtEnd else {
            throw ReplicationError(.invalidArchive, "unable to read tar archive: it ends before its end-of-archive marker")
        }
    }

    /// Convenience for tests and small inputs: the events for `bytes`.
    public mutating func consume(_ bytes: [UInt8]) throws -> [Event] {
        var events: [Event] = []
        try bytes.withUnsafeBytes { buffer in try consume(buffer) { events.append($0) } }
        return events
    }

    /// Feeds the next piece of the archive; `emit` receives the events it completes, in order.
    public mutating func consume(_ bytes: UnsafeRawBufferPointer, _ emit: (Event) throws -> Void) throws {
        var offset = 0
        while offset < bytes.count {
            let available = bytes.count - offset
            switch state {
            case .header, .secondZeroBlock:
                let take = min(TarHeader.blockSize - blockFill, available)
                block.withUnsafeMutableBytes { destination in
                    destination.baseAddress!.advanced(by: blockFill)
                        .copyMemory(from: bytes.baseAddress!.advanced(by: offset), byteCount: take)
                }
                blockFill += take
                offset += take
                if blockFill == TarHeader.blockSize {
                    blockFill = 0
                    try blockCompleted(emit)
                }
            case .fileData(let remaining, let padding):
                let take = Int(min(remaining, Int64(available)))
                try emit(.fileData(Array(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)]))))
                offset += take
                if remaining == Int64(take) {
                    try emit(.fileEnded)
                    state = padding > 0 ? .skip(remaining: Int64(padding)) : .header
                } else {
                    state = .fileData(remaining: remaining - Int64(take), padding: padding)
                }
            case .extendedData(let kind, let remaining, let padding):
                let take = Int(min(remaining, Int64(available)))
                extended.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)]))
                offset += take
                if remaining == Int64(take) {
                    try extendedCompleted(kind)
                    state = padding > 0 ? .skip(remaining: Int64(padding)) : .header
                } else {
                    state = .extendedData(kind: kind, remaining: remaining - Int64(take), padding: padding)
                }
            case .skip(let remaining):
                let take = Int(min(remaining, Int64(available)))
                offset += take
                state = remaining == Int64(take) ? .header : .skip(remaining: remaining - Int64(take))
            case .ended:
                guard UnsafeRawBufferPointer(rebasing: bytes[offset...]).allSatisfy({ $0 == 0 }) else {
                    throw ReplicationError(.invalidArchive, "unable to read tar archive: data after the end-of-archive marker")
                }
                offset = bytes.count
            }
        }
    }

    private mutating func blockCompleted(_ emit: (Event) throws -> Void) throws {
        let isZero = block.withUnsafeBytes(TarHeader.isZeroBlock)
        if state == .secondZeroBlock {
            guard isZero else {
                throw ReplicationError(.invalidArchive, "unable to read tar archive: a lone zero block inside the archive")
            }
            state = .ended
            try emit(.endOfArchive)
            return
        }
        if isZero {
            guard isBetweenEntries else {
                throw ReplicationError(.invalidArchive, "unable to read tar archive: it ends after a long-name or pax header")
            }
            state = .secondZeroBlock
            return
        }
        let header = try block.withUnsafeBytes { try TarHeader(block: $0) }
        switch header.kind {
        case .gnuLongName, .gnuLongLink, .paxExtended:
            guard header.size <= Int64(Self.maximumExtendedHeaderSize) else {
                throw ReplicationError(
                    .invalidArchive, "unable to read tar archive: extended header of \(header.size) bytes is too large")
            }
            extended.removeAll(keepingCapacity: true)
            if header.size == 0 {
                try extendedCompleted(header.kind)
            } else {
                state = .extendedData(kind: header.kind, remaining: header.size, padding: Self.padding(header.size))
            }
        case .paxGlobal:
            let skip = header.size + Int64(Self.padding(header.size))
            state = skip > 0 ? .skip(remaining: skip) : .header
        case .file, .directory, .symlink:
            try entryCompleted(header, emit)
        }
    }

    private mutating func entryCompleted(_ header: TarHeader, _ emit: (Event) throws -> Void) throws {
        let rawPath = paxPath ?? longName ?? header.name
        let rawLink = paxLinkPath ?? longLink ?? header.linkName
        let size = paxSize ?? header.size
        (paxPath, paxLinkPath, paxSize, longName, longLink) = (nil, nil, nil, nil, nil)
        let path = try Self.normalizedPath(rawPath)
        switch header.kind {
        case .directory, .symlink:
            guard size == 0 else {
                throw ReplicationError(.invalidArchive, "unable to read tar entry '\(path)': a \(header.kind) with data")
            }
            if header.kind == .directory {
                try emit(.directory(path: path, mode: header.mode))
            } else {
                guard let target = String(validating: rawLink, as: UTF8.self), !target.isEmpty else {
                    throw ReplicationError(.invalidArchive, "unable to read tar entry '\(path)': invalid symlink target")
                }
                try emit(.symlink(path: path, target: target))
            }
        default:
            try emit(.fileStarted(path: path, size: size, mode: header.mode, modified: header.modified))
            if size == 0 {
                try emit(.fileEnded)
            } else {
                state = .fileData(remaining: size, padding: Self.padding(size))
            }
        }
    }

    private mutating func extendedCompleted(_ kind: TarHeader.Kind) throws {
        var data = extended
        extended.removeAll(keepingCapacity: true)
        switch kind {
        case .gnuLongName, .gnuLongLink:
            while data.last == 0 { data.removeLast() }
            if kind == .gnuLongName { longName = data } else { longLink = data }
        default:
            try applyPaxRecords(data)
        }
    }

    /// pax records: `<decimal length> <key>=<value>\n`, the length counting the whole record.
    private mutating func applyPaxRecords(_ data: [UInt8]) throws {
        let invalid = ReplicationError(.invalidArchive, "unable to read tar archive: malformed pax header")
        var start = 0
        while start < data.count {
            var cursor = start
            var length = 0
            while cursor < data.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(data[cursor]) {
                length = length * 10 + Int(data[cursor] - UInt8(ascii: "0"))
                guard length <= data.count else { throw invalid }
                cursor += 1
            }
            guard cursor < data.count, data[cursor] == UInt8(ascii: " "), length > cursor - start + 1,
                start + length <= data.count, data[start + length - 1] == UInt8(ascii: "\n"),
                let equals = data[(cursor + 1)..<(start + length - 1)].firstIndex(of: UInt8(ascii: "="))
            else { throw invalid }
            let key = data[(cursor + 1)..<equals]
            let value = Array(data[(equals + 1)..<(start + length - 1)])
            switch String(decoding: key, as: UTF8.self) {
            case "path": paxPath = value
            case "linkpath": paxLinkPath = value
            case "size":
                guard !value.isEmpty, let size = Int64(String(decoding: value, as: UTF8.self)), size >= 0 else {
                    throw invalid
                }
                paxSize = size
            default: break
            }
            start += length
        }
    }

    private static func padding(_ size: Int64) -> Int {
        Int((Int64(TarHeader.blockSize) - size % Int64(TarHeader.blockSize)) % Int64(TarHeader.blockSize))
    }

    /// The relative, normalised form of a tar path; throws `unsafePath` for an absolute path or a
    /// `..` component and `invalidArchive` for invalid UTF-8 or a path with no components.
    public static func normalizedPath(_ raw: [UInt8]) throws -> String {
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw ReplicationError(.invalidArchive, "unable to read tar entry: its path is not valid UTF-8")
        }
        guard !text.hasPrefix("/") else {
            throw ReplicationError(.unsafePath, "unable to accept tar entry '\(text)': the path is absolute")
        }
        var components: [Substring] = []
        for component in text.split(separator: "/") where component != "." {
            guard component != ".." else {
                throw ReplicationError(.unsafePath, "unable to accept tar entry '\(text)': the path contains '..'")
            }
            components.append(component)
        }
        guard !components.isEmpty else {
            throw ReplicationError(.invalidArchive, "unable to read tar entry: empty path '\(text)'")
        }
        return components.joined(separator: "/")
    }
}
