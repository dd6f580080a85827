import Dispatch
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository

/// Where one block's bytes live: a pack (index into the catalog's pack table) and offset.
package struct BlockLocation: Hashable, Sendable {
    package var pack: Int
    package var offset: Int64
}

/// Turns a stream of files into packs, a block map and catalog entries.
///
/// Files are cut into blocks of `blockSize` (PostgreSQL's page size). Each block gets a keyed
/// 128-bit hash; a block whose hash the parent chain (or this backup) already stored is not
/// stored again, so an incremental after random-row updates stores only the changed pages.
/// All-zero blocks are never stored. Hashing runs in parallel batches; packs compress and
/// encrypt in parallel batches; memory stays at a few batches whatever the database size.
package final class BackupBuilder {
    package let repository: Repository
    package let stanza: String
    package let id: BackupID
    package let blockSize: Int
    package let compression: CompressionAlgorithm
    package let compressionLevel: Int32?
    package let hasher: BlockHasher
    package let packLimit: Int64

    package private(set) var packs: [PackRef] = []
    private var ownPacks: [Int] = []
    private var known: [BlockHash: BlockLocation]
    private var pack: PackWriter?
    private var packIndex = -1
    package private(set) var entries: [CatalogEntry] = []
    package private(set) var blockMap: [UInt8] = []
    package private(set) var databaseSize: Int64 = 0
    package private(set) var newBlocks = 0
    package private(set) var reusedBlocks = 0

    // The file being received.
    private var file: CatalogEntry?
    private var fileHasher = ContentHasher()
    private var pending: UnsafeMutableRawBufferPointer
    private var pendingCount = 0
    private var nextBlock: Int64 = 0
    private var extents: [Extent] = []
    private var received: Int64 = 0
    private let batchBlocks = 512
    private let zeroHash: BlockHash
    private let bufferPool = BufferPool()

    package init(repository: Repository, stanza: String, id: BackupID, blockSize: Int, compression: CompressionAlgorithm,
         compressionLevel: Int32?, parentPacks: [PackRef], known: [BlockHash: BlockLocation], packLimit: Int64 = 64 << 20) {
        self.repository = repository
        self.stanza = stanza
        self.id = id
        self.blockSize = blockSize
        self.compression = compression
        self.compressionLevel = compressionLevel
        self.hasher = BlockHasher(repositoryKey: repository.key)
        self.packs = parentPacks
        self.known = known
        self.packLimit = packLimit
        pending = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize * 512, alignment: 64)
        let zeros = [UInt8](repeating: 0, count: blockSize)
        zeroHash = zeros.withUnsafeBytes { BlockHasher(repositoryKey: repository.key).hash($0) }
    }

    deinit { pending.deallocate() }

    package func directory(_ path: String, mode: UInt32, tablespace: UInt32?) {
        entries.append(CatalogEntry(path: path, kind: .directory, mode: mode, tablespace: tablespace))
    }

    package func symlink(_ path: String, target: String, tablespace: UInt32?) {
        entries.append(CatalogEntry(path: path, kind: .symlink, mode: 0o777, target: target, tablespace: tablespace))
    }

    package func beginFile(_ path: String, size: Int64, mode: UInt32, modified: Int64, tablespace: UInt32?) throws {
        guard file == nil else { throw TidemarkError(.io, "internal: file '\(path)' started before the previous one ended") }
        file = CatalogEntry(path: path, kind: .file, mode: mode, size: size, modified: modified, tablespace: tablespace, extents: [])
        fileHasher = ContentHasher()
        pendingCount = 0
        nextBlock = 0
        extents = []
        received = 0
    }

    package func fileData(_ bytes: [UInt8]) async throws {
        var offset = 0
        received += Int64(bytes.count)
        while offset < bytes.count {
            let take = min(pending.count - pendingCount, bytes.count - offset)
            bytes.withUnsafeBytes { src in
                (pending.baseAddress! + pendingCount).copyMemory(from: src.baseAddress! + offset, byteCount: take)
            }
            pendingCount += take
            offset += take
            if pendingCount == pending.count { try await flush() }
        }
    }

    package func endFile() async throws {
        guard var entry = file else { throw TidemarkError(.io, "internal: file ended before it started") }
        if pendingCount > 0 { try await flush() }
        guard received == entry.size else {
            throw TidemarkError(.io, "the server sent \(received) bytes for '\(entry.path)' but announced \(entry.size)")
        }
        entry.sha256 = hexString(fileHasher.finalize())
        entry.extents = extents
        entries.append(entry)
        databaseSize += entry.size
        file = nil
    }

    /// Hashes the pending blocks in parallel (and the file hash beside them), then stores the
    /// blocks nobody has stored yet.
    private func flush() async throws {
        let count = pendingCount
        let blocks = (count + blockSize - 1) / blockSize
        let hashes = HashSlots(count: blocks)
        let shared = SharedBuffer(UnsafeRawBufferPointer(rebasing: pending[0..<count]))
        let fileHash = ContentHasherBox(fileHasher)
        let (hasher, blockSize) = (self.hasher, self.blockSize)
        // The file hash (sequential) is iteration 0, so the block hashes share the other
        // threads while it runs.
        await BlockingPool.shared.parallelFor(count: blocks + 1) { j in
            if j == 0 {
                fileHash.hasher.update(shared.buffer)
                return
            }
            let i = j - 1
            let lower = i * blockSize
            let block = UnsafeRawBufferPointer(rebasing: shared.buffer[lower..<min(lower + blockSize, shared.buffer.count)])
            hashes.set(i, isZero(block) ? nil : hasher.hash(block))
        }
        fileHasher = fileHash.hasher
        for i in 0..<blocks {
            let lower = i * blockSize
            let length = min(blockSize, count - lower)
            let location: BlockLocation
            if let hash = hashes.values[i] {
                appendHash(hash)
                if let existing = known[hash] {
                    location = existing
                    reusedBlocks += 1
                } else {
                    let block = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(pending)[lower..<(lower + length)])
                    location = try await store(block)
                    known[hash] = location
                    newBlocks += 1
                }
            } else {
                appendHash(zeroHash)
                location = BlockLocation(pack: Extent.zeroPack, offset: 0)
            }
            addToExtents(location, length: length)
            nextBlock += 1
        }
        pendingCount = 0
    }

    private func appendHash(_ h: BlockHash) {
        withUnsafeBytes(of: h.high.littleEndian) { blockMap.append(contentsOf: $0) }
        withUnsafeBytes(of: h.low.littleEndian) { blockMap.append(contentsOf: $0) }
    }

    private func addToExtents(_ location: BlockLocation, length: Int) {
        if var last = extents.last, last.pack == location.pack, last.firstBlock + last.count == nextBlock,
           location.pack == Extent.zeroPack || last.offset + last.count * Int64(blockSize) == location.offset {
            last.count += 1
            extents[extents.count - 1] = last
        } else {
            extents.append(Extent(firstBlock: nextBlock, count: 1, pack: location.pack, offset: location.offset))
        }
    }

    private func store(_ block: UnsafeRawBufferPointer) async throws -> BlockLocation {
        if pack == nil || pack!.plaintextSize >= packLimit {
            try await rotatePack()
        }
        guard let pack else { throw TidemarkError(.io, "internal: no pack") }
        let offset = try await pack.append(block)
        return BlockLocation(pack: packIndex, offset: offset)
    }

    private func rotatePack() async throws {
        if let pack {
            try await pack.finish()
            packs[packIndex].storedSize = pack.storedSize
        }
        let name = "pack-" + String(ownPacks.count + 1).leftPadded(to: 5)
        let key = RepositoryLayout.backupObject(stanza, id, name)
        pack = try await PackWriter(store: repository.store, key: key, name: name, repositoryKey: repository.key,
                                    compression: compression, level: compressionLevel, pool: bufferPool)
        packs.append(PackRef(backup: id, name: name, storedSize: 0))
        packIndex = packs.count - 1
        ownPacks.append(packIndex)
    }

    /// Seals the last pack. Returns the bytes this backup stored in packs.
    package func finish() async throws -> Int64 {
        if let pack {
            try await pack.finish()
            packs[packIndex].storedSize = pack.storedSize
            self.pack = nil
        }
        // Only packs that some entry uses are listed; unused parent packs are dropped.
        var used = Set<Int>()
        for e in entries { for x in e.extents ?? [] where x.pack >= 0 { used.insert(x.pack) } }
        var remap: [Int: Int] = [:]
        var kept: [PackRef] = []
        for (i, p) in packs.enumerated() where used.contains(i) {
            remap[i] = kept.count
            kept.append(p)
        }
        for i in entries.indices {
            guard let ex = entries[i].extents else { continue }
            entries[i].extents = ex.map { x in
                var y = x
                if x.pack >= 0 { y.pack = remap[x.pack] ?? x.pack }
                return y
            }
        }
        let own = ownPacks.reduce(Int64(0)) { $0 + packs[$1].storedSize }
        packs = kept
        return own
    }

    package func abort() async {
        await pack?.abort()
    }
}

extension String {
    package func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

@inline(__always)
package func isZero(_ b: UnsafeRawBufferPointer) -> Bool {
    var i = 0
    let n = b.count
    while i + 8 <= n {
        if b.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return false }
        i += 8
    }
    while i < n {
        if b[i] != 0 { return false }
        i += 1
    }
    return true
}

package final class HashSlots: @unchecked Sendable {
    // Each index is written by one parallelFor iteration, read after it returns.
    // Fixed storage, not an Array: Array.withUnsafeMutableBufferPointer swaps the array out of
    // `self` for the duration of the call, so concurrent calls from several threads race on
    // the swap (lost slots, out-of-bounds writes, heap corruption: `tidemark backup` died
    // with SIGSEGV in malloc).
    private let storage: UnsafeMutableBufferPointer<BlockHash?>
    package init(count: Int) {
        storage = .allocate(capacity: count)
        storage.initialize(repeating: nil)
    }
    deinit { storage.deallocate() }
    package func set(_ i: Int, _ v: BlockHash?) { storage[i] = v }
    package var values: UnsafeMutableBufferPointer<BlockHash?> { storage }
}

package final class ContentHasherBox: @unchecked Sendable {
    // Mutated by exactly one parallelFor iteration.
    package var hasher: ContentHasher
    package init(_ h: ContentHasher) { hasher = h }
}
