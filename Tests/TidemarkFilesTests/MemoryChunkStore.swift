import Synchronization
import TidemarkCodec
import TidemarkCore
@testable import TidemarkFiles

/// An in-memory chunk store for the tree side's tests: ids are HMAC-SHA-256 under a test key
/// (as the real store's are under the files secret); reads are authenticated against the id.
final class MemoryChunkStore: ChunkSink, ChunkSource {
    struct State {
        var chunks: [ChunkID: [UInt8]] = [:]
        var durable: Set<ChunkID> = []
        var puts = 0
        var reads = 0
        var flushes = 0
    }

    private let key = RepositoryKey(id: [UInt8](repeating: 7, count: 16), keyBytes: [UInt8](repeating: 0x42, count: 32))
    private let state = Mutex(State())

    func id(of bytes: [UInt8]) -> ChunkID { ChunkID(bytes: key.mac(bytes, purpose: "files-chunk-test")) }

    func contains(_ id: ChunkID) async throws -> Bool { state.withLock { $0.chunks[id] != nil } }

    func put(_ id: ChunkID, bytes: [UInt8], compressible: Bool) async throws {
        state.withLock { s in
            if s.chunks[id] == nil {
                s.chunks[id] = bytes
                s.puts += 1
            }
        }
    }

    func flush() async throws {
        state.withLock { s in
            s.durable = Set(s.chunks.keys)
            s.flushes += 1
        }
    }

    func chunk(_ id: ChunkID) async throws -> [UInt8] {
        let bytes = state.withLock { s -> [UInt8]? in
            s.reads += 1
            return s.chunks[id]
        }
        guard let bytes else { throw TidemarkError(.notFound, "chunk \(id) is missing") }
        guard self.id(of: bytes) == id else { throw TidemarkError(.corrupt, "chunk \(id) does not authenticate") }
        return bytes
    }

    /// Stores `bytes` as a chunk whatever they are (for crafted trees).
    func store(_ bytes: [UInt8]) -> ChunkID {
        let id = self.id(of: bytes)
        state.withLock { $0.chunks[id] = bytes }
        return id
    }

    /// Flips one bit of a stored chunk.
    func damage(_ id: ChunkID) {
        state.withLock { s in
            if var b = s.chunks[id], !b.isEmpty {
                b[0] ^= 1
                s.chunks[id] = b
            }
        }
    }

    var puts: Int { state.withLock { $0.puts } }
    var count: Int { state.withLock { $0.chunks.count } }
    var flushes: Int { state.withLock { $0.flushes } }
    var allDurable: Bool { state.withLock { Set($0.chunks.keys) == $0.durable } }
}

/// Fixed-size chunking that counts the bytes it was fed (how much of the tree a run read).
final class CountingChunking: FilesChunking, @unchecked Sendable {
    private let inner: FixedSizeChunking
    private let fed = Atomic<Int>(0)
    init(size: Int) { inner = FixedSizeChunking(size: size) }
    var bytesFed: Int { fed.load(ordering: .relaxed) }

    func makeSplitter() -> any FilesChunkSplitter { Splitter(inner: inner.makeSplitter(), owner: self) }

    func add(_ n: Int) { fed.wrappingAdd(n, ordering: .relaxed) }

    struct Splitter: FilesChunkSplitter {
        var inner: any FilesChunkSplitter
        let owner: CountingChunking
        mutating func append(_ bytes: [UInt8]) -> [[UInt8]] {
            owner.add(bytes.count)
            return inner.append(bytes)
        }
        mutating func finish() -> [[UInt8]] { inner.finish() }
    }
}
