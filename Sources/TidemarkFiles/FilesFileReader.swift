#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore
import TidemarkSystem

/// Test hooks of the backup walk (nil in production): called with the path relative to the
/// configured path, so a test can remove a file between listing and open, or grow one while
/// it is read.
public struct FilesBackupHooks: Sendable {
    public var beforeOpen: (@Sendable (_ relativePath: [UInt8]) -> Void)?
    public var afterBlock: (@Sendable (_ relativePath: [UInt8], _ attempt: Int) -> Void)?
    public init(beforeOpen: (@Sendable ([UInt8]) -> Void)? = nil, afterBlock: (@Sendable ([UInt8], Int) -> Void)? = nil) {
        self.beforeOpen = beforeOpen
        self.afterBlock = afterBlock
    }
}

/// What reading one file gave.
enum FilesFileOutcome: Sendable {
    /// The entry (chunks filled), bytes read and bytes newly stored.
    case stored(FilesEntry, readBytes: UInt64, newBytes: UInt64)
    case unreadable(String)
}

/// Reads one regular file into chunks with bounded memory: a block at a time on the blocking
/// pool, cut by the chunking, each chunk stored unless the sink has it. A file whose size or
/// mtime differ before and after the read (or whose length read differs from its size) is read
/// once more; changed again, it is stored as last read and flagged `changing`.
struct FilesFileReader: Sendable {
    let sink: any ChunkSink
    let chunking: any FilesChunking
    let pool: BlockingPool
    let blockSize: Int
    let hooks: FilesBackupHooks

    func read(path: [UInt8], relativePath: [UInt8], name: [UInt8], listed: FilesStat) async throws -> FilesFileOutcome {
        hooks.beforeOpen?(relativePath)
        var last: (FilesEntry, UInt64, UInt64)?
        for attempt in 1...2 {
            let result: Attempt
            do {
                result = try await readOnce(path: path, relativePath: relativePath, attempt: attempt)
            } catch let e as FilesOSError {
                return .unreadable(e.errno == ENOENT ? "vanished before it was read" : e.reason)
            }
            var entry = result.after.entry(name: name, kind: .file)
            entry.chunks = result.chunks
            entry.size = result.length
            last = (entry, result.length, result.newBytes)
            let stable = result.before.size == result.after.size && result.before.mtime == result.after.mtime
                && result.length == result.after.size && result.after.inode == listed.inode
            if stable { return .stored(entry, readBytes: result.length, newBytes: result.newBytes) }
        }
        guard let (lastEntry, read, new) = last else { return .unreadable("not read") }
        var entry = lastEntry
        entry.changing = true
        return .stored(entry, readBytes: read, newBytes: new)
    }

    private struct Attempt: Sendable {
        var before: FilesStat
        var after: FilesStat
        var chunks: [ChunkID]
        var length: UInt64
        var newBytes: UInt64
    }

    /// A chunk cut on a pool thread: its id computed there too (the keyed hash is CPU work).
    private struct CutChunk: Sendable {
        var id: ChunkID
        var bytes: [UInt8]
    }

    private final class Splitting: @unchecked Sendable {
        // Used by one file's read at a time, from one pool call after another (never at once).
        var splitter: any FilesChunkSplitter
        var compressible = true
        var sawFirstBlock = false
        init(_ splitter: any FilesChunkSplitter) { self.splitter = splitter }
    }

    private func readOnce(path: [UInt8], relativePath: [UInt8], attempt: Int) async throws -> Attempt {
        let (fd, before) = try await pool.run("open \(FilesPath.display(path))") { () throws -> (Int32, FilesStat) in
            let fd = try FilesSystemCalls.openForReading(path)
            do {
                let st = try FilesSystemCalls.fstat(fd, path)
                guard st.isRegular else { throw FilesOSError("read", path, EINVAL) }
                return (fd, st)
            } catch {
                close(fd)
                throw error
            }
        }
        let state = Splitting(chunking.makeSplitter())
        var chunks: [ChunkID] = []
        var offset: UInt64 = 0
        var newBytes: UInt64 = 0
        let sink = self.sink
        let chunking = self.chunking
        let blockSize = self.blockSize
        do {
            while true {
                let at = offset
                let (cut, count) = try await pool.run("read \(FilesPath.display(path))") { () throws -> ([CutChunk], Int) in
                    let block = try FilesSystemCalls.read(fd, at: at, count: blockSize, path)
                    if !state.sawFirstBlock {
                        state.sawFirstBlock = true
                        state.compressible = chunking.isCompressible(prefix: Array(block.prefix(4096)))
                    }
                    let pieces = block.isEmpty ? state.splitter.finish() : state.splitter.append(block)
                    return (pieces.map { CutChunk(id: sink.id(of: $0), bytes: $0) }, block.count)
                }
                for c in cut {
                    chunks.append(c.id)
                    if try await !sink.contains(c.id) {
                        try await sink.put(c.id, bytes: c.bytes, compressible: state.compressible)
                        newBytes += UInt64(c.bytes.count)
                    }
                }
                if count == 0 { break }
                offset += UInt64(count)
                hooks.afterBlock?(relativePath, attempt)
            }
        } catch {
            _ = try? await pool.run("close \(FilesPath.display(path))") { close(fd) }
            throw error
        }
        let after = try await pool.run("stat \(FilesPath.display(path))") { () throws -> FilesStat in
            defer { close(fd) }
            return try FilesSystemCalls.fstat(fd, path)
        }
        return Attempt(before: before, after: after, chunks: chunks, length: offset, newBytes: newBytes)
    }
}
