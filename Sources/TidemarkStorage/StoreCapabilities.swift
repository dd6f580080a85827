/// What a store guarantees beyond the `ObjectStore` contract, declared by each store so that
/// callers ask the store instead of checking its type (pgBackRest's driver feature bits,
/// restic's backend properties).
///
/// A store declares the weaker value whenever it cannot be sure of the stronger one: a caller
/// that relies on a capability the store does not have can lose data, a caller that does not
/// rely on one it has only does more work.
public struct StoreCapabilities: Sendable, Equatable, CustomStringConvertible {
    /// How `put(_:bytes:ifAbsent: true)` and `commit(ifAbsent: true)` keep an existing object.
    public enum ConditionalCreate: String, Sendable, Equatable {
        /// The check and the create are one step of the store (`link(2)`, `If-None-Match: *`):
        /// of concurrent creators of one key exactly one gets `.created`.
        case atomic
        /// The store looks, then writes: an existing object is never replaced by a writer that
        /// saw it, but two writers that both looked first may both write (the later one wins).
        case checkThenWrite = "check-then-write"
    }

    /// How `get(_:range:)` and the batched ranged reads get their bytes.
    public enum RangedReads: String, Sendable, Equatable {
        /// Only the bytes asked for are read or transferred.
        case native
        /// The whole object is read and the range cut out of it.
        case emulated
    }

    /// When a listing shows what was written or deleted.
    public enum ListingConsistency: String, Sendable, Equatable {
        /// A listing started after a write or delete returned shows it.
        case readAfterWrite = "read-after-write"
        /// A listing may miss recent writes or still show recent deletes for a while.
        case eventual
    }

    public var conditionalCreate: ConditionalCreate
    public var rangedReads: RangedReads
    public var listing: ListingConsistency

    public init(conditionalCreate: ConditionalCreate, rangedReads: RangedReads, listing: ListingConsistency) {
        self.conditionalCreate = conditionalCreate
        self.rangedReads = rangedReads
        self.listing = listing
    }

    /// Atomic conditional create, native ranged reads, read-after-write listings.
    public static let strongest = StoreCapabilities(conditionalCreate: .atomic, rangedReads: .native, listing: .readAfterWrite)

    /// For messages: `conditional create atomic, ranged reads native, listing read-after-write`.
    public var description: String {
        "conditional create \(conditionalCreate.rawValue), ranged reads \(rangedReads.rawValue), listing \(listing.rawValue)"
    }
}
