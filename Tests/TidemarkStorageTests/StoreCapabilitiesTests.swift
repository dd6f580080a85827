import Foundation
import Testing
import TidemarkStorage
import TidemarkSystem
import TidemarkTesting

@Suite("Store capabilities")
struct StoreCapabilitiesTests {
    @Test func fileSystemAndMemoryStoresDeclareTheStrongest() throws {
        #expect(MemoryStore().capabilities == .strongest)
        #expect(FileSystemStore(root: TestTemporaryRoot.path).capabilities == .strongest)
        #expect(StoreCapabilities.strongest == StoreCapabilities(conditionalCreate: .atomic, rangedReads: .native, listing: .readAfterWrite))
        #expect(StoreCapabilities.strongest.description == "conditional create atomic, ranged reads native, listing read-after-write")
    }

    /// The conformance suite takes a store at its word: a check-then-write create declared as
    /// such passes the race checks (racers may all win, the object is one of theirs)…
    @Test func anHonestCheckThenWriteStorePassesTheRaceChecks() async throws {
        let store = CheckThenWriteStore(conditionalCreate: .checkThenWrite)
        try await StoreConformance.concurrentCreators(store)
        try await StoreConformance.declaredCapabilitiesHold(store)
        try await StoreConformance.ifAbsentNeverReplaces(store)
    }

    /// …and the same store declaring an atomic create is caught by the capability check.
    @Test func aStoreThatClaimsAtomicCreateButChecksThenWritesFails() async throws {
        let store = CheckThenWriteStore(conditionalCreate: .atomic)
        await #expect(throws: TestingError.self) { try await StoreConformance.declaredCapabilitiesHold(store) }
        await #expect(throws: TestingError.self) { try await StoreConformance.concurrentCreators(store) }
    }

    @Test func instrumentedStoresPassTheWrappedStoresCapabilitiesThrough() {
        for declared in [StoreCapabilities.ConditionalCreate.atomic, .checkThenWrite] {
            let store = InstrumentedStore(wrapping: CheckThenWriteStore(conditionalCreate: declared)) { _ in }
            #expect(store.capabilities.conditionalCreate == declared)
            #expect(store.location == "check-then-write:")
        }
        #expect(InstrumentedStore(wrapping: MemoryStore()) { _ in }.capabilities == .strongest)
    }
}
