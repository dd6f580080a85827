import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage

/// One index page (`<stanza>/files/index/<id>`, an envelope of kind `filesIndex`, zstd): the
/// chunks of the packs one flush sealed, sorted by id. Plaintext: `TMFINDX1`, entry count u32
/// LE, then 64-byte entries: chunk id 32, pack id 16, offset u32, length u32, raw length u32,
/// flags u8 (bit 0: zstd), 3 zero bytes. A page is written only after every pack it names is
/// durable, so no page ever points at a missing pack.
public enum FilesIndexPage {
    public static let magic = Array("TMFINDX1".utf8)
    public static let entrySize = 64
    static let headerSize = 12
    /// Entries per page at most (4 MiB of plaintext): a flush with more writes several pages.
    public static let maxEntries = 65_536

    public static func encode(_ entries: [FilesIndexEntry]) -> [UInt8] {
        let sorted = entries.sorted { $0.id < $1.id }
        var b = magic
        b.reserveCapacity(headerSize + sorted.count * entrySize)
        FilesPackFormat.appendU32(&b, UInt32(sorted.count))
        for e in sorted {
            b += e.id.bytes
            b += hexBytes(e.pack) ?? [UInt8](repeating: 0, count: 16)
            FilesPackFormat.appendU32(&b, e.offset)
            FilesPackFormat.appendU32(&b, e.length)
            FilesPackFormat.appendU32(&b, e.rawLength)
            b += [e.compressed ? FilesPackFormat.flagZstd : 0, 0, 0, 0]
        }
        return b
    }

    /// Checks the layout (magic, count, sorted ids, flags); returns the plaintext as a page.
    public static func parse(_ plaintext: [UInt8], name: String) throws -> Page {
        guard plaintext.count >= headerSize, plaintext.starts(with: magic) else {
            throw TidemarkError(.corrupt, "index page '\(name)' is not a files index page")
        }
        let count = Int(FilesPackFormat.loadU32(plaintext, 8))
        guard plaintext.count == headerSize + count * entrySize else {
            throw TidemarkError(.corrupt, "index page '\(name)' declares \(count) entries in \(plaintext.count) bytes")
        }
        let page = Page(bytes: plaintext, count: count)
        for i in 0..<count {
            let at = headerSize + i * entrySize
            guard plaintext[at + 60] & ~FilesPackFormat.flagZstd == 0, plaintext[(at + 61)..<(at + 64)].allSatisfy({ $0 == 0 }) else {
                throw TidemarkError(.corrupt, "index page '\(name)' entry \(i) has unknown flags")
            }
            if i > 0 && !page.key(i - 1).lexicographicallyPrecedes(page.key(i)) && page.key(i - 1) != page.key(i) {
                throw TidemarkError(.corrupt, "index page '\(name)' is not sorted")
            }
        }
        return page
    }

    /// Reads and authenticates one page.
    public static func read(_ key: String, from repository: FilesRepository) async throws -> Page {
        let bytes: [UInt8]?
        do { bytes = try await repository.store.get(key) } catch {
            throw TidemarkError.wrap(error, doing: "read index page '\(key)' in repository '\(repository.name)'")
        }
        guard let bytes else {
            throw TidemarkError(.notFound, "index page '\(key)' is missing from repository '\(repository.name)'")
        }
        do {
            return try parse(try EnvelopeReader.decode(bytes, key: repository.key).plaintext, name: key)
        } catch let e as TidemarkError {
            throw e
        } catch {
            throw TidemarkError(.corrupt, "index page '\(key)' in repository '\(repository.name)' is damaged: \(error)",
                                hints: ["Run `tidemark verify`; the chunks it names are read from another repository of the stanza if one has them."],
                                cause: error)
        }
    }

    /// A decoded page kept as its plaintext (64 bytes an entry), searched in place.
    public struct Page: Sendable {
        let bytes: [UInt8]
        public let count: Int

        func key(_ i: Int) -> ArraySlice<UInt8> {
            let at = headerSize + i * entrySize
            return bytes[at..<(at + 32)]
        }

        public func entry(_ i: Int) -> FilesIndexEntry {
            let at = headerSize + i * entrySize
            return FilesIndexEntry(id: ChunkID(bytes: Array(bytes[at..<(at + 32)])), pack: hexString(bytes[(at + 32)..<(at + 48)]),
                                   offset: FilesPackFormat.loadU32(bytes, at + 48), length: FilesPackFormat.loadU32(bytes, at + 52),
                                   rawLength: FilesPackFormat.loadU32(bytes, at + 56), compressed: bytes[at + 60] & FilesPackFormat.flagZstd != 0)
        }

        public var entries: [FilesIndexEntry] { (0..<count).map(entry) }

        /// Binary search.
        public func find(_ id: ChunkID) -> FilesIndexEntry? {
            var lo = 0
            var hi = count
            while lo < hi {
                let mid = (lo + hi) / 2
                let k = key(mid)
                if k.elementsEqual(id.bytes) { return entry(mid) }
                if k.lexicographicallyPrecedes(id.bytes) { lo = mid + 1 } else { hi = mid }
            }
            return nil
        }
    }
}

/// The chunk index of one repository in memory: every chunk id (as four words) and the page
/// that holds its entry, sorted; the entries themselves stay in the pages and are read (and
/// cached, a few pages at a time) only to locate a chunk for reading. 40 bytes per chunk:
/// about 40 MB per million chunks (a million chunks is about a terabyte of large files).
public struct FilesIndex: Sendable {
    struct Key: Comparable, Sendable {
        var a: UInt64, b: UInt64, c: UInt64, d: UInt64
        var page: UInt32
        init(_ id: ChunkID, page: UInt32) {
            let w = id.bytes
            func word(_ at: Int) -> UInt64 {
                var v: UInt64 = 0
                for i in 0..<8 { v = v << 8 | UInt64(w[at + i]) }
                return v
            }
            a = word(0); b = word(8); c = word(16); d = word(24)
            self.page = page
        }
        static func < (l: Key, r: Key) -> Bool { (l.a, l.b, l.c, l.d) < (r.a, r.b, r.c, r.d) }
        static func == (l: Key, r: Key) -> Bool { l.a == r.a && l.b == r.b && l.c == r.c && l.d == r.d }
    }

    private var keys: [Key] = []
    /// Object keys of the pages, by page number.
    public private(set) var pages: [String] = []
    private var cache: [(page: Int, content: FilesIndexPage.Page)] = []
    static let cachedPages = 4

    public init() {}

    public var count: Int { keys.count }

    /// Reads every page of the repository, one at a time.
    public static func load(stanza: String, from repository: FilesRepository) async throws -> FilesIndex {
        let listing: ObjectListing
        do { listing = try await repository.store.list(prefix: FilesLayout.indexPrefix(stanza)) } catch {
            throw TidemarkError.wrap(error, doing: "list the files index of repository '\(repository.name)'")
        }
        var index = FilesIndex()
        for object in listing.objects.sorted(by: { $0.key < $1.key }) {
            let page = try await FilesIndexPage.read(object.key, from: repository)
            index.append(page: object.key, page, sort: false)
        }
        index.keys.sort()
        return index
    }

    /// Adds a page just written (or read).
    public mutating func append(page key: String, _ page: FilesIndexPage.Page, sort: Bool = true) {
        let number = UInt32(pages.count)
        pages.append(key)
        keys.reserveCapacity(keys.count + page.count)
        for i in 0..<page.count { keys.append(Key(ChunkID(bytes: Array(page.key(i))), page: number)) }
        if sort { keys.sort() }
        remember(Int(number), page)
    }

    public func contains(_ id: ChunkID) -> Bool { pageNumber(of: id) != nil }

    /// The page holding the chunk's entry.
    func pageNumber(of id: ChunkID) -> Int? {
        let probe = Key(id, page: 0)
        var lo = 0
        var hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if keys[mid] < probe { lo = mid + 1 } else { hi = mid }
        }
        return lo < keys.count && keys[lo] == probe ? Int(keys[lo].page) : nil
    }

    func cached(_ page: Int) -> FilesIndexPage.Page? { cache.first { $0.page == page }?.content }

    mutating func remember(_ page: Int, _ content: FilesIndexPage.Page) {
        cache.removeAll { $0.page == page }
        cache.insert((page, content), at: 0)
        if cache.count > Self.cachedPages { cache.removeLast() }
    }
}
