import TidemarkStorage
import TidemarkSystem

/// The `ObjectStore` contract as reusable checks, run against every store (memory, file
/// system, S3). Each check works below its own key prefix, so all of them can share one store,
/// and throws `TestingError(.unexpectedOutput)` naming what differed.
public enum StoreConformance {
    public struct Check: Sendable, CustomStringConvertible {
        public let name: String
        public let run: @Sendable (any ObjectStore) async throws -> Void
        public var description: String { name }
    }

    /// Every check. `largeSize` must exceed the store's multipart part size to exercise it.
    public static func all(largeSize: Int = (12 << 20) + 123, manyKeys: Int = 1100) -> [Check] {
        [
            Check(name: "missing objects are nil, not errors", run: missingObjectsAreNil),
            Check(name: "put, get, ranges, list, delete", run: putGetRangeListDelete),
            Check(name: "ifAbsent never replaces", run: ifAbsentNeverReplaces),
            Check(name: "streamed writes are invisible until commit; abort leaves nothing", run: streamedWrites),
            Check(name: "range edges", run: rangeEdges),
            Check(name: "list with many keys (pagination)", run: { try await listManyKeys($0, count: manyKeys) }),
            Check(name: "large objects (multipart)", run: { try await largeObjects($0, size: largeSize) }),
            Check(name: "concurrent ifAbsent writers: exactly one creates", run: concurrentCreators),
            Check(name: "declared capabilities hold", run: declaredCapabilitiesHold),
            Check(name: "removeAll removes everything below the prefix", run: { try await removeAll($0, size: largeSize) }),
            Check(name: "deleteMany removes exactly its keys; emptied prefixes stop listing", run: deleteMany),
        ]
    }

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw TestingError(.unexpectedOutput, "conformance: \(message())") }
    }

    /// Deterministic bytes that differ per `seed`.
    public static func pattern(_ count: Int, seed: UInt64) -> [UInt8] {
        var x = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var out = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            if i % 8 == 0 {
                x ^= x << 13
                x ^= x >> 7
                x ^= x << 17
            }
            out[i] = UInt8(truncatingIfNeeded: x >> ((i % 8) * 8))
        }
        return out
    }

    public static func missingObjectsAreNil(_ store: any ObjectStore) async throws {
        try expect(try await store.get("missing/a/b") == nil, "get of a missing object is nil")
        try expect(try await store.get("missing/a/b", range: 0..<10) == nil, "ranged get of a missing object is nil")
        try expect(try await store.size("missing/a/b") == nil, "size of a missing object is nil")
        try expect(try await store.openReader("missing/a/b") == nil, "openReader of a missing object is nil")
        try await store.delete("missing/a/b")
        let listing = try await store.list(prefix: "missing/a/")
        try expect(listing.objects.isEmpty && listing.prefixes.isEmpty, "an empty prefix lists nothing")
    }

    public static func putGetRangeListDelete(_ store: any ObjectStore) async throws {
        let bytes = (0..<5000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try expect(try await store.put("s/wal/x/obj1", bytes: bytes, ifAbsent: true) == .created, "first put creates")
        try expect(try await store.put("s/top", bytes: [1, 2, 3], ifAbsent: false) == .created, "plain put creates")
        try expect(try await store.get("s/wal/x/obj1") == bytes, "get returns the bytes")
        try expect(try await store.get("s/wal/x/obj1", range: 100..<200) == Array(bytes[100..<200]), "range 100..<200")
        try expect(try await store.get("s/wal/x/obj1", range: 4990..<6000) == Array(bytes[4990...]), "range clamped at the end")
        try expect(try await store.size("s/wal/x/obj1") == 5000, "size")
        let top = try await store.list(prefix: "s/")
        try expect(top.objects.map(\.key) == ["s/top"], "objects below s/: \(top.objects)")
        try expect(top.objects.first?.size == 3, "listed size")
        try expect(top.prefixes == ["s/wal/"], "prefixes below s/: \(top.prefixes)")
        try expect(try await store.list(prefix: "").prefixes.contains("s/"), "root lists s/")
        try await store.delete("s/top")
        try expect(try await store.get("s/top") == nil, "deleted object is gone")
        try await store.delete("s/wal/x/obj1")
    }

    public static func ifAbsentNeverReplaces(_ store: any ObjectStore) async throws {
        try expect(try await store.put("absent/k", bytes: [1], ifAbsent: true) == .created, "first put creates")
        try expect(try await store.put("absent/k", bytes: [2, 2], ifAbsent: true) == .alreadyExists, "second ifAbsent put finds it")
        try expect(try await store.get("absent/k") == [1], "the first object is untouched")
        let writer = try await store.makeWriter("absent/k")
        try await writer.write([5, 5, 5])
        try expect(try await writer.commit(ifAbsent: true) == .alreadyExists, "an ifAbsent writer finds it")
        try expect(try await store.get("absent/k") == [1], "still untouched")
        try expect(try await store.put("absent/k", bytes: [3], ifAbsent: false) == .created, "plain put replaces")
        try expect(try await store.get("absent/k") == [3], "replaced")
    }

    public static func streamedWrites(_ store: any ObjectStore) async throws {
        let writer = try await store.makeWriter("stream/big")
        try await writer.write([1, 2, 3])
        try expect(try await store.get("stream/big") == nil, "nothing visible before commit")
        try expect(try await store.list(prefix: "stream/").objects.isEmpty, "nothing listed before commit")
        try await writer.write([4])
        try expect(try await writer.commit(ifAbsent: true) == .created, "commit creates")
        try expect(try await store.get("stream/big") == [1, 2, 3, 4], "committed bytes")

        // Pieces in one call, and the last pieces together with the commit.
        let pieces = try await store.makeWriter("stream/pieces")
        try await pieces.write(contentsOf: [[1], [], [2, 3]])
        try expect(try await store.get("stream/pieces") == nil, "nothing visible before commit (pieces)")
        try expect(try await pieces.commit(ifAbsent: true, afterWriting: [[4, 5], [6]]) == .created, "commit after writing creates")
        try expect(try await store.get("stream/pieces") == [1, 2, 3, 4, 5, 6], "pieces in order")
        let again = try await store.makeWriter("stream/pieces")
        try expect(try await again.commit(ifAbsent: true, afterWriting: [[7]]) == .alreadyExists, "commit after writing never replaces")
        try expect(try await store.get("stream/pieces") == [1, 2, 3, 4, 5, 6], "still the first object")
        try await store.delete("stream/pieces")

        let aborted = try await store.makeWriter("stream/gone")
        try await aborted.write([9, 9])
        await aborted.abort()
        try expect(try await store.get("stream/gone") == nil, "aborted write leaves nothing")
        try expect(try await store.list(prefix: "stream/").objects.map(\.key) == ["stream/big"], "only the committed object is listed")

        let reader = try await store.openReader("stream/big")
        guard let reader else { throw TestingError(.unexpectedOutput, "conformance: openReader found nothing") }
        try expect(try await reader.read(upTo: 3) == [1, 2, 3], "first read")
        try expect(try await reader.read(upTo: 3) == [4], "second read")
        try expect(try await reader.read(upTo: 3) == [], "end")
        await reader.close()
    }

    public static func rangeEdges(_ store: any ObjectStore) async throws {
        let bytes = pattern(1000, seed: 3)
        _ = try await store.put("ranges/o", bytes: bytes, ifAbsent: false)
        try expect(try await store.get("ranges/o", range: 0..<1) == [bytes[0]], "first byte")
        try expect(try await store.get("ranges/o", range: 999..<1000) == [bytes[999]], "last byte")
        try expect(try await store.get("ranges/o", range: 0..<1000) == bytes, "whole object as a range")
        try expect(try await store.get("ranges/o", range: 500..<500) == [], "empty range")
        try expect(try await store.get("ranges/o", range: 1000..<2000) == [], "range past the end")
        _ = try await store.put("ranges/empty", bytes: [], ifAbsent: false)
        try expect(try await store.get("ranges/empty") == [], "empty object")
        try expect(try await store.size("ranges/empty") == 0, "empty object size")
        // A range of its own per object, in order, nil for a missing one.
        let many = try await store.getRanges([("ranges/o", 990..<1000), ("ranges/missing", 0..<5), ("ranges/o", 0..<3), ("ranges/empty", 0..<1)])
        try expect(many.count == 4 && many[0] == Array(bytes[990..<1000]) && many[1] == nil && many[2] == Array(bytes[0..<3])
                   && many[3] == [], "getRanges: one range per object, in order")
        try expect(try await store.getRanges([]).isEmpty, "getRanges of nothing")
    }

    public static func listManyKeys(_ store: any ObjectStore, count: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func add() {
                let i = next
                next += 1
                group.addTask { _ = try await store.put("many/k\(String(100_000 + i))", bytes: [UInt8(i & 0xFF)], ifAbsent: true) }
            }
            for _ in 0..<min(16, count) { add() }
            while try await group.next() != nil {
                if next < count { add() }
            }
        }
        _ = try await store.put("many/sub/inner", bytes: [1], ifAbsent: true)
        let listing = try await store.list(prefix: "many/")
        try expect(listing.objects.count == count, "listed \(listing.objects.count) of \(count) keys")
        try expect(Set(listing.objects.map(\.key)).count == count, "no key listed twice")
        try expect(listing.objects.map(\.key) == (0..<count).map { "many/k\(String(100_000 + $0))" }, "keys in order")
        try expect(listing.prefixes == ["many/sub/"], "prefixes: \(listing.prefixes)")
    }

    public static func largeObjects(_ store: any ObjectStore, size: Int) async throws {
        let bytes = pattern(size, seed: 11)
        try expect(try await store.put("large/put", bytes: bytes, ifAbsent: true) == .created, "large put creates")
        try expect(try await store.size("large/put") == Int64(size), "large put size")
        try expect(try await store.get("large/put") == bytes, "large put bytes")
        try expect(try await store.put("large/put", bytes: pattern(size, seed: 12), ifAbsent: true) == .alreadyExists,
            "a large ifAbsent put does not replace")
        try expect(try await store.get("large/put", range: Int64(size - 10)..<Int64(size)) == Array(bytes[(size - 10)...]),
            "tail range of a large object")

        let writer = try await store.makeWriter("large/streamed")
        var offset = 0
        while offset < size {
            let n = min(1 << 20 + 17, size - offset)
            try await writer.write(Array(bytes[offset..<(offset + n)]))
            offset += n
        }
        try expect(try await store.get("large/streamed") == nil, "a large write is invisible before commit")
        try expect(try await writer.commit(ifAbsent: true) == .created, "large streamed commit creates")
        guard let reader = try await store.openReader("large/streamed") else { throw TestingError(.unexpectedOutput, "conformance: no reader") }
        var read = [UInt8]()
        while true {
            let chunk = try await reader.read(upTo: 3 << 20)
            if chunk.isEmpty { break }
            read += chunk
        }
        await reader.close()
        try expect(read == bytes, "large streamed bytes read back (\(read.count) of \(size))")

        let aborted = try await store.makeWriter("large/aborted")
        try await aborted.write(bytes)
        await aborted.abort()
        try expect(try await store.get("large/aborted") == nil, "an aborted large write leaves nothing")
    }

    public static func concurrentCreators(_ store: any ObjectStore) async throws {
        let writers = 8
        let outcomes = try await withThrowingTaskGroup(of: (Int, PutOutcome).self) { group in
            for i in 0..<writers {
                group.addTask { (i, try await store.put("race/one", bytes: pattern(4096, seed: UInt64(100 + i)), ifAbsent: true)) }
            }
            var all: [(Int, PutOutcome)] = []
            for try await o in group { all.append(o) }
            return all
        }
        let winners = outcomes.filter { $0.1 == .created }
        let stored = try await store.get("race/one")
        guard store.capabilities.conditionalCreate == .atomic else {
            // Check-then-write: racers may all create, but the object is one of theirs, whole.
            try expect(!winners.isEmpty, "at least one of \(writers) concurrent ifAbsent writers creates")
            try expect(winners.contains { stored == pattern(4096, seed: UInt64(100 + $0.0)) }, "the object holds a winner's bytes")
            return
        }
        try expect(winners.count == 1, "exactly one of \(writers) concurrent ifAbsent writers creates (got \(winners.count))")
        try expect(stored == pattern(4096, seed: UInt64(100 + winners[0].0)), "the object holds the winner's bytes")
    }

    /// What `capabilities` declares, checked from outside: an atomic conditional create has one
    /// winner also among streamed writers and puts racing together; a read-after-write listing
    /// shows each write and delete as soon as it returned. (Native ranged reads cannot be seen
    /// from outside.)
    public static func declaredCapabilitiesHold(_ store: any ObjectStore) async throws {
        let declared = store.capabilities
        if declared.conditionalCreate == .atomic {
            for round in 0..<3 {
                let key = "caps/create\(round)"
                let outcomes = try await withThrowingTaskGroup(of: (Int, PutOutcome).self) { group in
                    for i in 0..<8 {
                        group.addTask {
                            let bytes = pattern(1000 + i, seed: UInt64(200 + i))
                            if i % 2 == 0 { return (i, try await store.put(key, bytes: bytes, ifAbsent: true)) }
                            let writer = try await store.makeWriter(key)
                            try await writer.write(bytes)
                            return (i, try await writer.commit(ifAbsent: true))
                        }
                    }
                    var all: [(Int, PutOutcome)] = []
                    for try await o in group { all.append(o) }
                    return all
                }
                let winners = outcomes.filter { $0.1 == .created }
                try expect(winners.count == 1,
                    "a store that declares atomic conditional create lets exactly one of 8 racing creators (puts and streamed writers) create '\(key)' (got \(winners.count))")
                try expect(try await store.get(key) == pattern(1000 + winners[0].0, seed: UInt64(200 + winners[0].0)),
                    "'\(key)' holds the one winner's bytes")
                try expect(try await store.put(key, bytes: [9], ifAbsent: true) == .alreadyExists, "a later create of '\(key)' is refused")
            }
        }
        if declared.listing == .readAfterWrite {
            for i in 0..<20 {
                let key = "caps/list/k\(100 + i)"
                _ = try await store.put(key, bytes: [UInt8(i)], ifAbsent: true)
                try expect(try await store.list(prefix: "caps/list/").objects.contains { $0.key == key },
                    "a read-after-write listing shows '\(key)' right after its write")
                try await store.delete(key)
                try expect(!(try await store.list(prefix: "caps/list/").objects.contains { $0.key == key }),
                    "a read-after-write listing hides '\(key)' right after its delete")
            }
        }
    }

    public static func removeAll(_ store: any ObjectStore, size: Int) async throws {
        for k in ["gone/a", "gone/b/c", "gone/b/d/e"] { _ = try await store.put(k, bytes: [1, 2], ifAbsent: true) }
        _ = try await store.put("kept/x", bytes: [3], ifAbsent: true)
        // A writer that "died" mid-way: for S3 a multipart upload in flight.
        let dead = try await store.makeWriter("gone/dead")
        try await dead.write(pattern(size, seed: 5))
        try await store.removeAll(prefix: "gone/")
        let listing = try await store.list(prefix: "gone/")
        try expect(listing.objects.isEmpty && listing.prefixes.isEmpty, "nothing left below gone/: \(listing)")
        try expect(try await store.get("kept/x") == [3], "other prefixes are untouched")
        await dead.abort()
    }

    public static func deleteMany(_ store: any ObjectStore) async throws {
        let gone = (0..<40).map { "dm/s/a/k\($0)" } + ["dm/s/b/c/x", "dm/s/b/y"]
        let kept = ["dm/s/keep/k1", "dm/s/b/kept", "dm/top", "dm/s/a0"]
        for (i, k) in (gone + kept).enumerated() { _ = try await store.put(k, bytes: pattern(10 + i, seed: UInt64(i)), ifAbsent: true) }
        // A missing key and a repeated one are not errors.
        try await store.deleteMany(gone + ["dm/s/missing/z", "dm/s/a/k0"])
        try await store.deleteMany([])
        for k in gone { try expect(try await store.get(k) == nil, "deleteMany removed '\(k)'") }
        for (i, k) in kept.enumerated() {
            try expect(try await store.get(k) == pattern(10 + gone.count + i, seed: UInt64(gone.count + i)), "deleteMany left '\(k)' as it was")
        }
        let s = try await store.list(prefix: "dm/s/")
        try expect(s.prefixes == ["dm/s/b/", "dm/s/keep/"] && s.objects.map(\.key) == ["dm/s/a0"],
            "after deleteMany, dm/s/ lists no emptied prefix: \(s)")
        let b = try await store.list(prefix: "dm/s/b/")
        try expect(b.prefixes.isEmpty && b.objects.map(\.key) == ["dm/s/b/kept"], "after deleteMany, dm/s/b/ lists no emptied prefix: \(b)")
        let a = try await store.list(prefix: "dm/s/a/")
        try expect(a.prefixes.isEmpty && a.objects.isEmpty, "an emptied prefix lists nothing: \(a)")
        _ = try await store.put("dm/s/a/again", bytes: [5], ifAbsent: true)
        try expect(try await store.get("dm/s/a/again") == [5], "a key can be written again below an emptied prefix")
    }
}
