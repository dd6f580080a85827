import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository

extension WALInventoryLoader {
    /// Proves each segment object in `names` is whole without reading its data: the listing
    /// gives its stored size, and the last bytes at that size must be the authenticated final
    /// frame declaring a whole segment's length (`EnvelopeTrailerCheck`). A truncated object
    /// fails here, naming it; damage inside an object is found when it is read (wal-fetch,
    /// verify). One listing per 4 GiB directory; headers and tails in batches of 64 objects,
    /// one round each (`ObjectStore.getRanges`: one I/O call per batch on a file system),
    /// `parallel` batches at a time.
    package func checkWhole(_ names: [WALSegmentName], parallel: Int = 16) async throws {
        let keys = names.map { RepositoryLayout.wal(stanza, .segment($0)) }
        var sizes = seen.sizes
        var listed = Set<String>()
        for key in keys where sizes[key] == nil {
            let dir = String(key[..<(key.lastIndex(of: "/") ?? key.endIndex)]) + "/"
            guard listed.insert(dir).inserted else { continue }
            for object in try await call("list '\(dir)'", { try await store.list(prefix: dir) }).objects {
                sizes[object.key] = object.size
            }
        }
        // Batches of 64: each one round for the headers and one for the tails (on a file
        // system, one I/O thread each), a few batches at a time.
        let batchSize = 64
        let starts = Array(stride(from: 0, to: keys.count, by: batchSize))
        let width = max(1, parallel)
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func add() {
                guard next < starts.count else { return }
                let lower = starts[next]
                let upper = min(lower + batchSize, keys.count)
                next += 1
                let batchNames = Array(names[lower..<upper])
                let batchKeys = Array(keys[lower..<upper])
                let stored = batchKeys.map { sizes[$0] }
                group.addTask { try await checkBatch(batchNames, keys: batchKeys, stored: stored) }
            }
            for _ in 0..<width { add() }
            while try await group.next() != nil { add() }
        }
    }

    package func checkBatch(_ names: [WALSegmentName], keys: [String], stored: [Int64?]) async throws {
        let known = seen.headers(of: keys)
        let headers = known.contains { $0 == nil }
            ? try await call("read WAL object headers") { try await store.get(keys, range: 0..<Int64(EnvelopeHeader.size)) }
            : known
        let frame = Int64(EnvelopeTrailerCheck.finalFrameSize)
        var requests: [(key: String, range: Range<Int64>)] = []
        var asked: [Int] = []
        for (i, key) in keys.enumerated() {
            guard let size = stored[i], size >= Int64(EnvelopeHeader.size) + frame else { continue }
            requests.append((key, (size - frame)..<size))
            asked.append(i)
        }
        let got = try await call("read the ends of WAL objects in '\(location)'") { try await store.getRanges(requests) }
        var tails = [[UInt8]?](repeating: nil, count: keys.count)
        for (j, i) in asked.enumerated() where j < got.count { tails[i] = got[j] }
        for i in keys.indices {
            try checkWhole(names[i], key: keys[i], stored: stored[i], header: i < headers.count ? headers[i] : nil, tail: tails[i])
        }
    }

    package func checkWhole(_ name: WALSegmentName, key: String, stored: Int64?, header: [UInt8]?, tail: [UInt8]?) throws {
        guard let stored, let header else {
            throw TidemarkError(.corrupt, "WAL segment \(name) disappeared from '\(location)' while planning")
        }
        let frame = Int64(EnvelopeTrailerCheck.finalFrameSize)
        var problem = "it is \(stored) bytes, too short for any segment"
        if stored >= Int64(EnvelopeHeader.size) + frame {
            do {
                _ = try EnvelopeTrailerCheck.trailer(header: header, tail: tail ?? [], expectedLength: size.rawValue, key: repository.key)
                return
            } catch let e where !e.isDamage {
                throw TidemarkError.wrap(e, doing: "check '\(location)/\(key)'")
            } catch {
                problem = "its \(stored) stored bytes do not end with the authenticated trailer of a \(size) segment (\(error))"
            }
        }
        throw TidemarkError(.corrupt, "WAL segment \(name) in '\(location)/\(key)' is truncated or damaged: \(problem)",
                            hints: ["recovery would stop at this segment: find \(name) in another repository or in pg_wal on the server, move the damaged object aside and archive the file again"])
    }
}

/// Stored sizes and envelope headers of WAL objects, as `WALInventoryLoader.load` read them.
package final class SeenObjects: Sendable {
    private let state = LockedBox<(sizes: [String: Int64], headers: [String: [UInt8]])>(([:], [:]))

    package func record(size: Int64, of key: String) { state.mutate { $0.sizes[key] = size } }
    package func record(header: [UInt8], of key: String) { state.mutate { $0.headers[key] = header } }
    package var sizes: [String: Int64] { state.value.sizes }
    package func headers(of keys: [String]) -> [[UInt8]?] {
        let all = state.value.headers
        return keys.map { all[$0] }
    }
}
