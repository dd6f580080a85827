#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository

extension RestorePlan {
    /// Reads every file back in ranges of 4 MiB, in parallel, and compares each block's keyed
    /// hash with the block map the backup wrote from the original data: a block written to
    /// the wrong place, damaged or missing is caught, at memory speed and on every core.
    package func verifyBlocks(map: [UInt8], blockSize: Int, hasher: BlockHasher, parallel: Int) async throws {
        struct Unit: Sendable { var file: Int; var firstBlock: Int; var blocks: Int; var mapOffset: Int }
        var units: [Unit] = []
        var cursor = 0
        let perUnit = max(1, (4 << 20) / blockSize)
        for (i, f) in files.enumerated() {
            let blocks = Int((f.size + Int64(blockSize) - 1) / Int64(blockSize))
            var b = 0
            while b < blocks {
                let n = min(perUnit, blocks - b)
                units.append(Unit(file: i, firstBlock: b, blocks: n, mapOffset: cursor + b * 16))
                b += n
            }
            cursor += blocks * 16
        }
        guard cursor == map.count else {
            throw TidemarkError(.corrupt, "the backup's block map has \(map.count / 16) entries, its catalog \(cursor / 16) blocks")
        }
        let files = self.files
        let work = units
        let failures = LockedBox<[String]>([])
        let shared = SharedMap(map)
        await BlockingPool.shared.parallelFor(count: units.count, width: parallel) { u in
            let unit = work[u]
            let f = files[unit.file]
            let fd = open(f.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                failures.mutate { $0.append("\(f.path): unreadable") }
                return
            }
            defer { close(fd) }
            if unit.firstBlock == 0 {
                var st = stat()
                if fstat(fd, &st) != 0 || Int64(st.st_size) != f.size {
                    failures.mutate { $0.append("\(f.path): size") }
                    return
                }
            }
            let start = Int64(unit.firstBlock) * Int64(blockSize)
            let length = Int(min(Int64(unit.blocks * blockSize), f.size - start))
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 64)
            defer { buffer.deallocate() }
            var got = 0
            while got < length {
                let n = pread(fd, buffer.baseAddress! + got, length - got, off_t(start) + off_t(got))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                got += n
            }
            guard got == length else {
                failures.mutate { $0.append("\(f.path): short read") }
                return
            }
            for b in 0..<unit.blocks {
                let lower = b * blockSize
                let block = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[lower..<min(lower + blockSize, length)])
                let h = hasher.hash(block)
                let at = unit.mapOffset + b * 16
                let expected = shared.map.withUnsafeBytes { raw in
                    BlockHash(high: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)),
                              low: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self)))
                }
                if h != expected {
                    failures.mutate { $0.append("\(f.path) block \(unit.firstBlock + b)") }
                    return
                }
            }
        }
        let failed = failures.value
        if !failed.isEmpty {
            throw TidemarkError(.corrupt, "\(failed.count) restored range(s) do not match the backup's block map, e.g. '\(failed[0])'",
                                hints: ["the restore is not usable; restore from another backup or repository"])
        }
    }

    /// Reads every file back and compares its SHA-256 with the catalog's.
    package func verifyFiles(parallel: Int) async throws {
        let files = self.files
        let failures = LockedBox<[String]>([])
        await BlockingPool.shared.parallelFor(count: files.count, width: parallel) { i in
            let f = files[i]
            guard let digest = try? sha256(ofFile: f.path) else {
                failures.mutate { $0.append("\(f.path): unreadable") }
                return
            }
            if digest != f.sha256 { failures.mutate { $0.append(f.path) } }
        }
        let failed = failures.value
        if !failed.isEmpty {
            throw TidemarkError(.corrupt, "\(failed.count) restored file(s) do not match the backup's checksums, e.g. '\(failed[0])'",
                                hints: ["the restore is not usable; run `tidemark verify` and restore from another backup or repository"])
        }
    }
}

/// SHA-256 of a whole file, hex.
package func sha256(ofFile path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw TidemarkError(.io, "unable to open '\(path)'") }
    defer { close(fd) }
    var hasher = ContentHasher()
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
    defer { buffer.deallocate() }
    while true {
        let n = read(fd, buffer.baseAddress!, buffer.count)
        if n < 0 {
            if errno == EINTR { continue }
            throw TidemarkError(.io, "unable to read '\(path)'")
        }
        if n == 0 { break }
        hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
    }
    return hexString(hasher.finalize())
}

package struct SharedMap: Sendable {
    package let map: [UInt8]
    package init(_ map: [UInt8]) { self.map = map }
}
