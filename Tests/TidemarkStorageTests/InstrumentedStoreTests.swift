import Synchronization
import Testing
import TidemarkStorage
import TidemarkSystem
import TidemarkTesting

/// What an observer saw, in order.
final class CallRecorder: Sendable {
    private let calls = Mutex<[StoreCall]>([])
    var all: [StoreCall] { calls.withLock { $0 } }
    func record(_ call: StoreCall) { calls.withLock { $0.append(call) } }
    /// Operation, key, count, bytes and outcome of each call (durations and errors vary).
    var summary: [String] { all.map { "\($0.operation.rawValue) \($0.key) n=\($0.count) b=\($0.bytes) \($0.outcome.rawValue)" } }
    func clear() { calls.withLock { $0 = [] } }
}

@Suite("Instrumented store")
struct InstrumentedStoreTests {
    func make() -> (InstrumentedStore, MemoryStore, CallRecorder) {
        let base = MemoryStore()
        let recorder = CallRecorder()
        return (InstrumentedStore(wrapping: base, observer: recorder.record), base, recorder)
    }

    @Test func everyStoreCallIsForwardedAndReported() async throws {
        let (store, base, recorder) = make()
        #expect(try await store.put("a/x", bytes: [1, 2, 3], ifAbsent: true) == .created)
        #expect(try await store.put("a/x", bytes: [9], ifAbsent: true) == .alreadyExists)
        #expect(try await store.put("a/y", bytes: [4, 5], ifAbsent: false) == .created)
        #expect(try await store.get("a/x") == [1, 2, 3])
        #expect(try await store.get("a/missing") == nil)
        #expect(try await store.get("a/x", range: 1..<3) == [2, 3])
        #expect(try await store.get(["a/x", "a/missing", "a/y"], range: 0..<1) == [[1], nil, [4]])
        #expect(try await store.getRanges([("a/y", 1..<2), ("a/x", 0..<2)]) == [[5], [1, 2]])
        #expect(try await store.size("a/y") == 2)
        #expect(try await store.size("a/missing") == nil)
        #expect(try await store.list(prefix: "a/") == base.list(prefix: "a/"))
        try await store.delete("a/y")
        #expect(base.snapshot["a/y"] == nil, "the delete reached the wrapped store")
        try await store.removeAll(prefix: "a/")
        #expect(base.snapshot.isEmpty, "removeAll reached the wrapped store")
        #expect(recorder.summary == [
            "put a/x n=1 b=3 created",
            "put a/x n=1 b=0 already-exists",
            "put a/y n=1 b=2 created",
            "get a/x n=1 b=3 done",
            "get a/missing n=1 b=0 missing",
            "get-range a/x n=1 b=2 done",
            "get-batch a/x n=3 b=2 done",
            "get-ranges a/y n=2 b=3 done",
            "size a/y n=1 b=0 done",
            "size a/missing n=1 b=0 missing",
            "list a/ n=1 b=5 done",
            "delete a/y n=1 b=0 done",
            "remove-all a/ n=1 b=0 done",
        ])
        #expect(recorder.all.allSatisfy { $0.error == nil && $0.duration >= .zero })
    }

    @Test func writersAndReadersAreForwardedAndReported() async throws {
        let (store, base, recorder) = make()
        let writer = try await store.makeWriter("w/one")
        try await writer.write([1, 2])
        try await writer.write(contentsOf: [[3], [], [4, 5]])
        #expect(base.snapshot["w/one"] == nil, "nothing visible before commit")
        #expect(try await writer.commit(ifAbsent: true) == .created)
        let again = try await store.makeWriter("w/one")
        #expect(try await again.commit(ifAbsent: true, afterWriting: [[7, 7]]) == .alreadyExists)
        let aborted = try await store.makeWriter("w/two")
        try await aborted.write([8])
        await aborted.abort()
        #expect(base.snapshot == ["w/one": [1, 2, 3, 4, 5]])

        let reader = try #require(try await store.openReader("w/one"))
        #expect(try await reader.read(upTo: 4) == [1, 2, 3, 4])
        #expect(try await reader.read(upTo: 4) == [5])
        #expect(try await reader.read(upTo: 4) == [])
        await reader.close()
        #expect(try await store.openReader("w/none") == nil)
        #expect(recorder.summary == [
            "make-writer w/one n=1 b=0 done",
            "write w/one n=1 b=2 done",
            "write w/one n=1 b=3 done",
            "commit w/one n=1 b=0 created",
            "make-writer w/one n=1 b=0 done",
            "commit w/one n=1 b=0 already-exists",
            "make-writer w/two n=1 b=0 done",
            "write w/two n=1 b=1 done",
            "abort w/two n=1 b=0 done",
            "open-reader w/one n=1 b=0 done",
            "read w/one n=1 b=4 done",
            "read w/one n=1 b=1 done",
            "read w/one n=1 b=0 done",
            "close w/one n=1 b=0 done",
            "open-reader w/none n=1 b=0 missing",
        ])
    }

    @Test func failuresAreReportedWithTheirErrorAndRethrownUnchanged() async throws {
        let (store, base, recorder) = make()
        base.failWrites(with: StorageError(.io, key: "f/k", message: "unable to write 'f/k': injected"))
        await #expect {
            _ = try await store.put("f/k", bytes: [1], ifAbsent: true)
        } throws: { ($0 as? StorageError)?.code == .io }
        await #expect(throws: StorageError.self) { _ = try await store.get("../escape") }
        #expect(recorder.summary == ["put f/k n=1 b=0 failed", "get ../escape n=1 b=0 failed"])
        #expect((recorder.all.first?.error as? StorageError)?.code == .io)
        #expect((recorder.all.last?.error as? StorageError)?.code == .invalidKey)
    }

    /// A batch reaches the wrapped store's own batch call (one round on a file system), not one
    /// call per object; the same for a writer's commit-after-writing.
    @Test func batchesReachTheWrappedStoresOwnImplementation() async throws {
        let inner = CallRecorder()
        let outer = CallRecorder()
        let store = InstrumentedStore(wrapping: InstrumentedStore(wrapping: MemoryStore(), observer: inner.record), observer: outer.record)
        _ = try await store.put("b/x", bytes: [1, 2, 3], ifAbsent: false)
        _ = try await store.getRanges([("b/x", 0..<1), ("b/x", 1..<2)])
        _ = try await store.get(["b/x", "b/x"], range: 0..<2)
        let writer = try await store.makeWriter("b/y")
        _ = try await writer.commit(ifAbsent: true, afterWriting: [[1], [2]])
        let expected = [
            "put b/x n=1 b=3 created", "get-ranges b/x n=2 b=2 done", "get-batch b/x n=2 b=4 done",
            "make-writer b/y n=1 b=0 done", "commit b/y n=1 b=2 created",
        ]
        #expect(inner.summary == expected)
        #expect(outer.summary == expected)
    }

    @Test func durationsAreMeasured() async throws {
        let recorder = CallRecorder()
        let store = InstrumentedStore(wrapping: CheckThenWriteStore(conditionalCreate: .checkThenWrite, gap: .milliseconds(150)),
                                      observer: recorder.record)
        _ = try await store.put("d/x", bytes: [1], ifAbsent: true)
        let call = try #require(recorder.all.first)
        #expect(call.duration >= .milliseconds(150))
        #expect(call.description.hasPrefix("put 'd/x': created, 1 bytes, "))
    }
}
