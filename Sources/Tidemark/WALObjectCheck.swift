import TidemarkCodec
import TidemarkCore
import TidemarkStorage

extension WALInventoryLoader {
    /// Proves each segment object in `names` is whole without reading its data: the listing
    /// gives its stored size, and the last bytes at that size must be the authenticated final
    /// frame declaring a whole segment's length (`EnvelopeTrailerCheck`). A truncated object
    /// fails here, naming it; damage inside an object is found when it is read (wal-fetch,
    /// verify). One listing per 4 GiB directory, headers in batches of 32, tails `parallel`
    /// at a time.
    func checkWhole(_ names: [WALSegmentName], parallel: Int = 16) async throws {
        let keys = names.map { RepositoryLayout.wal(stanza, .segment($0)) }
        var sizes: [String: Int64] = [:]
        var listed = Set<String>()
        for key in keys {
            let dir = String(key[..<(key.lastIndex(of: "/") ?? key.endIndex)]) + "/"
            guard listed.insert(dir).inserted else { continue }
            for object in try await call("list '\(dir)'", { try await store.list(prefix: dir) }).objects {
                sizes[object.key] = object.size
            }
        }
        var headers: [[UInt8]?] = []
        for start in stride(from: 0, to: keys.count, by: 32) {
            let batch = Array(keys[start..<min(start + 32, keys.count)])
            headers += try await call("read WAL object headers") { try await store.get(batch, range: 0..<Int64(EnvelopeHeader.size)) }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func add() {
                guard next < keys.count else { return }
                let (name, key, header) = (names[next], keys[next], headers[next])
                let stored = sizes[key]
                next += 1
                group.addTask { try await checkWhole(name, key: key, stored: stored, header: header) }
            }
            for _ in 0..<parallel { add() }
            while try await group.next() != nil { add() }
        }
    }

    func checkWhole(_ name: WALSegmentName, key: String, stored: Int64?, header: [UInt8]?) async throws {
        guard let stored, let header else {
            throw TidemarkError(.corrupt, "WAL segment \(name) disappeared from '\(location)' while planning")
        }
        let frame = Int64(EnvelopeTrailerCheck.finalFrameSize)
        var problem = "it is \(stored) bytes, too short for any segment"
        if stored >= Int64(EnvelopeHeader.size) + frame {
            let tail = try await call("read the end of '\(location)/\(key)'") { try await store.get(key, range: (stored - frame)..<stored) }
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
