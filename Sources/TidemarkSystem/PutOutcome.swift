/// What a conditional write found.
public enum PutOutcome: Sendable, Equatable {
    /// The object now holds the bytes written.
    case created
    /// An object was already there; it was left untouched and nothing was written.
    case alreadyExists
}
