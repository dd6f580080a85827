import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage
import TidemarkSystem

extension BackupStore {
    /// Loads what an incremental needs from its parent: the parent's pack table and a map from
    /// block hash to where that block is stored.
    package func knownBlocks(of parent: BackupCatalog) async throws -> [BlockHash: BlockLocation] {
        let map = try await readObject(parent.id, "blockmap")
        var known: [BlockHash: BlockLocation] = [:]
        var cursor = 0
        let bs = Int64(parent.blockSize)
        for entry in parent.entries where entry.kind == .file {
            let blocks = (entry.size + bs - 1) / bs
            guard cursor + Int(blocks) * 16 <= map.count else {
                throw TidemarkError(.corrupt, "block map of backup '\(parent.id)' is shorter than its catalog")
            }
            for extent in entry.extents ?? [] where extent.pack >= 0 {
                for i in 0..<extent.count {
                    let at = cursor + Int(extent.firstBlock + i) * 16
                    let hash = map.withUnsafeBytes { raw in
                        BlockHash(high: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)),
                                  low: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self)))
                    }
                    known[hash] = BlockLocation(pack: extent.pack, offset: extent.offset + i * bs)
                }
            }
            cursor += Int(blocks) * 16
        }
        return known
    }
}
